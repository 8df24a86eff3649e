/**
 * The hostile corpus through the CLI (in-process, embedded default: local storage and a local
 * app remote). Every case of the corpus, base and extra, is pushed and refused in
 * test/e2e/bad-input.e2e.test.ts; here: the corpus generator's coverage, names and tags on the
 * command line that break the grammar, and the gzip bomb, which must be published as is
 * without ever being inflated.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { badFlagCases } from "../fixtures/hostile-extra.js";
import {
  allHostileCases,
  generateHostileCorpus,
  gzipBombBytes,
  writeGzipBomb,
} from "../fixtures/generate-hostile.js";
import { buildV1Chain, writePulpExport } from "../helpers/pulp-builder.js";
import { buildDockerArchive } from "../helpers/image-builder.js";
import { publishedFiles } from "../helpers/storage-files.js";
import { setUpRefusalIsv, type RefusalIsv } from "../helpers/refusal-isv.js";

const ISV = "hostile";

describe("hostile input corpus", () => {
  let isv: RefusalIsv;
  beforeAll(async () => {
    isv = await setUpRefusalIsv(ISV);
  }, 60_000);
  afterAll(() => isv.remove());

  it("generates at least 30 cases covering every category, with corpus.json", async () => {
    const out = await mkdtemp(join(tmpdir(), "raas-corpus-"));
    try {
      const entries = await generateHostileCorpus(out);
      expect(entries.length).toBe(allHostileCases().length);
      expect(entries.length).toBeGreaterThanOrEqual(30);
      expect(await publishedFiles(out)).toContain("corpus.json");
      const labels = entries.map((e) => e.label).join("\n");
      for (const category of [
        /traversal|\.\./,
        /absolute/,
        /symlink/,
        /hard link/,
        /duplicate/,
        /truncated/,
        /gzip/,
        /header/,
        /posing as|naming a layer|wrong shape/,
        /digest mismatch|not matching/,
        /non-JSON/,
      ]) {
        expect(labels).toMatch(category);
      }
      expect(entries.some((e) => e.label.startsWith("docker archive"))).toBe(true);
      expect(entries.some((e) => e.label.startsWith("OCI layout dir"))).toBe(true);
      expect(entries.some((e) => e.label.startsWith("OCI layout tar"))).toBe(true);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 60_000);

  it.each(badFlagCases.map((c) => [c.label, c] as const))(
    "refuses %s before reading anything",
    async (_l, bad) => {
      const dir = await mkdtemp(join(tmpdir(), "raas-hostile-flag-"));
      try {
        const image = await buildDockerArchive(join(dir, "ok.tar"), { name: "acme/ok", tag: "1", layers: 1 });
        const before = isv.head();
        const publishedBefore = await isv.published();
        const run = await isv.raas("push", ISV, image.path, ...bad.args, "--no-wait");
        expect(run.code, run.stdout + run.stderr).not.toBe(0);
        expect(run.stderr).toMatch(bad.expect);
        expect(run.stderr).not.toMatch(/internal error/);
        expect(isv.head()).toBe(before);
        expect(await isv.published()).toEqual(publishedBefore);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it("publishes a gzip bomb layer as is, never inflating it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "raas-bomb-"));
    try {
      const bomb = await writeGzipBomb(join(dir, "layout"), 256 * 1024 * 1024);
      expect(bomb.compressed).toBeLessThan(bomb.inflated / 500);
      const started = Date.now();
      const run = await isv.raas("push", ISV, bomb.path, "--no-wait", "--json");
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const result = JSON.parse(run.stdout) as {
        images: { uploadedBytes: number; blobs: { size: number }[] }[];
      };
      const image = result.images[0];
      // Exactly the stored bytes went up: the compressed layer, the config; nothing inflated.
      expect(image?.uploadedBytes).toBe(image?.blobs.reduce((sum, b) => sum + b.size, 0));
      expect(image?.uploadedBytes).toBeLessThan(bomb.compressed + 10_000);
      // Inflating 256 MiB and hashing it would show; reading a few hundred KiB does not.
      expect(Date.now() - started).toBeLessThan(15_000);
      const stored = (await publishedFiles(isv.storage)).filter((f) => f.startsWith("acme-bomb/blobs/"));
      let bytes = 0;
      for (const f of stored) bytes += (await stat(join(isv.storage, f))).size;
      expect(bytes).toBeLessThan(bomb.compressed + 10_000);
      expect(relative(isv.work, isv.storage).startsWith("..")).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("inflates a Pulp export's gzip bomb layer only as a stream, in bounded memory", async () => {
    // Pulp layers are the one input raas must inflate (the v2 config needs their diff_ids).
    const dir = await mkdtemp(join(tmpdir(), "raas-pulp-bomb-"));
    try {
      const [image] = await buildV1Chain(["bomb"]);
      if (image === undefined) throw new Error("no image built");
      const inflated = 256 * 1024 * 1024;
      const bomb = { ...image, layer: await gzipBombBytes(inflated) };
      const path = join(dir, "export.tar");
      await writePulpExport(path, {
        repoId: "acme-bomb",
        registryId: "acme/pbomb",
        images: [bomb],
        tags: { "1": bomb.id },
      });
      const rssBefore = process.memoryUsage().rss;
      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      const started = Date.now();
      const run = await isv
        .raas("push", ISV, path, "--no-wait", "--json")
        .finally(() => clearInterval(sampler));
      // A valid export (its digests are right): published, its layer streamed through gunzip
      // for the diff_id, 256 MiB never held at once.
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(peak - rssBefore).toBeLessThan(128 * 1024 * 1024);
      expect(Date.now() - started).toBeLessThan(30_000);
      const result = JSON.parse(run.stdout) as { images: { uploadedBytes: number }[] };
      // The layer went up compressed (plus a config and a small manifest), not inflated.
      expect(result.images[0]?.uploadedBytes).toBeLessThan(bomb.layer.length + 64 * 1024);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
