/**
 * How `raas push` treats the names an archive records and the names its flags give, through
 * the whole CLI into local storage and a real app remote: `--rename-tag` never lets one of two
 * source tags silently win a published tag, and names that break the grammar are reported (on
 * stderr and in --json), never dropped without a word.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerArchiveEntries, writeOciLayoutDir } from "../helpers/image-builder.js";
import { setUpRefusalIsv, type RefusalIsv } from "../helpers/refusal-isv.js";
import { writeTar } from "../helpers/tar-writer.js";

const ISV = "names";

/** A `docker save` archive of small images, the nth manifest.json entry with the nth RepoTags. */
async function archiveWithRepoTags(path: string, repoTags: string[][], seed = "names"): Promise<string> {
  const { entries } = await dockerArchiveEntries(
    path,
    repoTags.map((_, i) => ({ name: "acme/app", tag: "1", layers: 1, layerSeeds: [`${seed}-${i}`] })),
  );
  const manifest = entries.find((e) => e.name === "manifest.json");
  if (manifest === undefined || typeof manifest.data !== "string") throw new Error("no manifest.json");
  const doc = JSON.parse(manifest.data) as { RepoTags: string[] }[];
  for (const [i, entry] of doc.entries()) entry.RepoTags = repoTags[i] ?? [];
  manifest.data = JSON.stringify(doc);
  await writeTar(path, entries);
  return path;
}

/** An OCI layout directory of one small image whose index.json entry has these annotations. */
async function layoutWithAnnotations(dir: string, annotations: Record<string, string>): Promise<string> {
  await writeOciLayoutDir(dir, { name: "acme/oci", tag: "1", layers: 1, layerSeeds: [dir] });
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
    manifests: { annotations: Record<string, string> }[];
  };
  for (const entry of index.manifests) entry.annotations = annotations;
  await writeFile(join(dir, "index.json"), JSON.stringify(index));
  return dir;
}

interface PushJson {
  images: { name: string; tags: string[] }[];
  warnings: string[];
}

let isv: RefusalIsv;
let dir: string;
beforeAll(async () => {
  isv = await setUpRefusalIsv(ISV);
  dir = await mkdtemp(join(tmpdir(), "raas-names-"));
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await isv.remove();
});

describe("raas push --rename-tag", () => {
  it.each([
    [
      "two source tags renamed onto one tag",
      ["1=x", "2=x"],
      /tags 1 and 2 would both be published as acme\/app:x/,
    ],
    ["a rename onto a tag kept as it is", ["1=2"], /tags 1 and 2 would both be published as acme\/app:2/],
    [
      "a rename of a kept tag onto a renamed one",
      ["2=3", "1=3"],
      /tags 1 and 2 would both be published as acme\/app:3/,
    ],
    ["one tag renamed twice", ["1=x", "1=y"], /renames 1 twice, to x and to y/],
  ])("refuses %s before anything is uploaded", async (_label, renames, expected) => {
    const input = await archiveWithRepoTags(join(dir, "two-tags.tar"), [["acme/app:1", "acme/app:2"]]);
    const before = isv.head();
    const publishedBefore = await isv.published();
    const args = renames.flatMap((r) => ["--rename-tag", r]);
    const run = await isv.raas("push", ISV, input, "--no-wait", ...args);
    expect(run.code, run.stdout + run.stderr).toBe(2);
    expect(run.stderr).toMatch(expected);
    expect(isv.head()).toBe(before);
    expect(await isv.published()).toEqual(publishedBefore);
  });

  it("publishes renames that keep one source tag per published tag (a swap)", async () => {
    const input = await archiveWithRepoTags(join(dir, "swap.tar"), [["acme/app:1", "acme/app:2"]], "swap");
    const run = await isv.raas(
      "push",
      ISV,
      input,
      "--no-wait",
      "--json",
      "--rename-tag",
      "1=2",
      "--rename-tag",
      "2=1",
    );
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as PushJson;
    expect(result.images).toMatchObject([{ name: "acme/app", tags: ["1", "2"] }]);
  });
});

describe("raas push of an input with names that are not valid", () => {
  const huge = `acme/app:${"x".repeat(5000)}`;
  const hostile = "acme/app:\x1b]0;owned\x07";

  it("publishes the valid names and reports each ignored one, with the file and why, on stderr and in --json", async () => {
    const input = await archiveWithRepoTags(
      join(dir, "mixed.tar"),
      [["acme/app:1", "acme/app:bad tag!", "Acme/App:2", huge, hostile], ["Other/App:1"]],
      "mixed",
    );
    const run = await isv.raas("push", ISV, input, "--no-wait", "--json");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as PushJson;
    expect(result.images).toMatchObject([{ name: "acme/app", tags: ["1"] }]);
    const expected = [
      /manifest\.json entry 1 RepoTags: ignoring "acme\/app:bad tag!": the tag has " " \(U\+0020\)/,
      /manifest\.json entry 1 RepoTags: ignoring "Acme\/App:2": the repository name has upper-case letters/,
      /ignoring "acme\/app:x{100,120}"… \(5009 characters\): the tag is 5000 characters long, more than 128/,
      /ignoring "acme\/app:\\u001b\]0;owned\\u0007": the tag has "\\u001b" \(U\+001B\)/,
      /manifest\.json entry 2 RepoTags: ignoring "Other\/App:1"/,
      /image sha256:[0-9a-f]{64} is not pushed: the input gives it no valid repository name/,
    ];
    expect(result.warnings).toHaveLength(expected.length);
    for (const [i, pattern] of expected.entries()) {
      expect(result.warnings[i]?.startsWith(`${input}: `)).toBe(true);
      expect(result.warnings[i]).toMatch(pattern);
      expect(run.stderr).toMatch(pattern);
    }
    // Nothing the input holds reaches the terminal raw.
    expect(run.stderr).not.toContain("\x1b");
    expect(run.stderr).not.toContain("x".repeat(200));
    expect(run.stdout).not.toContain("x".repeat(200));
  });

  it("refuses an input left with no valid name, naming the file and the names, and publishes nothing", async () => {
    const input = await archiveWithRepoTags(
      join(dir, "none.tar"),
      [["acme/app:bad tag!", "UPPER:1"]],
      "none",
    );
    const before = isv.head();
    const publishedBefore = await isv.published();
    const run = await isv.raas("push", ISV, input, "--no-wait");
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stderr).toContain(`${input}: nothing to push: no image in it has a valid name`);
    expect(run.stderr).toMatch(/"acme\/app:bad tag!": the tag has " "/);
    expect(run.stderr).toMatch(/"UPPER:1": the repository name has upper-case letters/);
    expect(isv.head()).toBe(before);
    expect(await isv.published()).toEqual(publishedBefore);
    // Named on the command line, the same image is pushed.
    const named = await isv.raas(
      "push",
      ISV,
      input,
      "--no-wait",
      "--json",
      "--name",
      "acme/none",
      "--tag",
      "1",
    );
    expect(named.code, named.stdout + named.stderr).toBe(0);
    expect((JSON.parse(named.stdout) as PushJson).images).toMatchObject([{ name: "acme/none", tags: ["1"] }]);
  });

  it("does not publish an OCI image whose only tag is not valid as latest under --name", async () => {
    const layout = await layoutWithAnnotations(join(dir, "oci-bad-tag"), {
      "org.opencontainers.image.ref.name": "-bad",
    });
    const before = isv.head();
    const run = await isv.raas("push", ISV, layout, "--no-wait", "--name", "acme/oci");
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stderr).toContain(
      `${layout}: index.json entry 1 org.opencontainers.image.ref.name: ignoring "-bad": the tag starts with "-"`,
    );
    expect(run.stderr).toContain(`${layout}: nothing to push`);
    expect(isv.head()).toBe(before);
  });

  it("reports an OCI containerd name that is not valid and publishes the valid tag", async () => {
    const layout = await layoutWithAnnotations(join(dir, "oci-bad-name"), {
      "io.containerd.image.name": "docker.io/acme/Bad_Name:1",
      "org.opencontainers.image.ref.name": "2",
    });
    const run = await isv.raas("push", ISV, layout, "--no-wait", "--json", "--name", "acme/oci");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as PushJson;
    expect(result.images).toMatchObject([{ name: "acme/oci", tags: ["2"] }]);
    expect(result.warnings).toEqual([
      `${layout}: index.json entry 1 io.containerd.image.name: ignoring "docker.io/acme/Bad_Name:1": the repository name has upper-case letters; names are lower case`,
    ]);
  });
});
