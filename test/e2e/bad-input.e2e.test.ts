/**
 * Bad input through the whole CLI: every hostile archive of the corpus (test/helpers/hostile.ts
 * and the extra cases of test/fixtures/hostile-extra.ts), and a layer whose
 * bytes do not match its digest (only detectable while uploading), must exit non-zero with a
 * message naming the file and the problem, and publish nothing: the app remote does not
 * move, no manifest or tag reaches storage, and no file appears outside the work directory.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extraHostileCases } from "../fixtures/hostile-extra.js";
import { hostileCases } from "../helpers/hostile.js";
import { writeOciLayoutDir } from "../helpers/image-builder.js";
import { publishedFiles } from "../helpers/storage-files.js";
import { setUpRefusalIsv, type RefusalIsv } from "../helpers/refusal-isv.js";

const ISV = "bad";

describe("push rejects bad input and publishes nothing", () => {
  let isv: RefusalIsv;
  beforeAll(async () => {
    isv = await setUpRefusalIsv(ISV);
  }, 60_000);
  afterAll(() => isv.remove());

  it.each([...hostileCases, ...extraHostileCases].map((c) => [c.label, c] as const))(
    "%s",
    async (_label, hostile) => {
      const dir = await mkdtemp(join(tmpdir(), "raas-bad-case-"));
      try {
        const input = await hostile.build(dir);
        const filesBefore = await publishedFiles(dir);
        const before = isv.head();
        const publishedBefore = await isv.published();
        const run = await isv.raas("push", ISV, input, "--name", "acme/app", "--tag", "1", "--no-wait");
        expect(run.code, run.stdout + run.stderr).toBe(1);
        expect(run.stderr).toContain(input);
        expect(run.stderr).toMatch(hostile.expect);
        expect(run.stderr).not.toMatch(/internal error/);
        expect(isv.head()).toBe(before);
        expect(await isv.published()).toEqual(publishedBefore);
        // Nothing was extracted or written next to the input.
        expect(await publishedFiles(dir)).toEqual(filesBefore);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it("rejects a layer whose bytes do not match its digest, during upload, with no object at its key", async () => {
    const dir = await mkdtemp(join(tmpdir(), "raas-bad-digest-"));
    try {
      const layout = join(dir, "layout");
      const built = await writeOciLayoutDir(layout, {
        name: "acme/app",
        tag: "1",
        layers: 2,
        layerSize: 100_000,
      });
      const layer = built.image.manifests[0]?.layers[1];
      if (layer === undefined) throw new Error("builder gave no layer");
      const file = join(layout, "blobs", "sha256", layer.digest.slice(7));
      const bytes = await readFile(file);
      bytes[bytes.length - 2000] = (bytes[bytes.length - 2000] ?? 0) ^ 0xff;
      await writeFile(file, bytes);
      const before = isv.head();
      const run = await isv.raas("push", ISV, layout, "--no-wait");
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`blobs/sha256/${layer.digest.slice(7)}`);
      expect(run.stderr).toMatch(/does not match its digest/);
      expect(isv.head()).toBe(before);
      expect(await publishedFiles(isv.storage)).not.toContain(`acme-app/blobs/${layer.digest}`);
      expect((await publishedFiles(isv.storage)).filter((f) => f.startsWith("acme-app/manifests/"))).toEqual(
        [],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("tells the user to run setup first for an ISV that was never set up", async () => {
    const run = await isv.raas("push", "neverseen", "no-such-image");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/neverseen is not set up/);
    expect(run.stderr).toMatch(/raas setup neverseen/);
  });

  it("names a missing file and exits 1", async () => {
    const run = await isv.raas("push", ISV, "no-such-image");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/no-such-image\.tar/);
  });
});
