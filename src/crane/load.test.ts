import { mkdtemp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadMetadataDir } from "./load.js";
import { METADATA_GOOD } from "./testing/crane-fixtures.js";
import { fingerprint, walkTree } from "./walk.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-crane-load-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeFixtures(target: string): Promise<void> {
  for (const [name, content] of Object.entries(METADATA_GOOD)) {
    await writeFile(join(target, name), JSON.stringify(content));
  }
}

describe("loadMetadataDir", () => {
  it("loads Crane's metadata_good into separate v1 and v2 namespaces", async () => {
    await writeFixtures(dir);
    const log: string[] = [];
    const index = await loadMetadataDir(dir, (m) => log.push(m));
    expect([...index.v1.keys()].sort()).toEqual(["bar", "baz", "nop", "qux", "redhat/foo"]);
    expect([...index.v2.keys()].sort()).toEqual([
      "bar",
      "redhat/foo",
      "redhat/protected",
      "redhat/zoo",
      "registry",
    ]);
    expect(index.images.get("abc123")).toEqual(["redhat/foo"]);
    // foo_v3.json sorts after foo_v2.json, so it wins, every time.
    expect(index.v2.get("redhat/foo")?.meta.version).toBe(3);
    expect(log).toEqual(["foo_v3.json: repository redhat/foo overrides the one in foo_v2.json"]);
    expect(index.v1.get("redhat/foo")?.imagesJson).toBe('[{"id": "abc123"}, {"id": "xyz789"}]');
    expect(index.v1.get("redhat/foo")?.tagsJson).toBe('{"latest": "abc123", "test": "def234"}');
  });

  it("skips bad files with a log line and keeps loading; ignores non-json files", async () => {
    await writeFile(join(dir, "wrong_version.json"), '{"version": -1}');
    await writeFile(join(dir, "broken.json"), "{");
    await writeFile(join(dir, "notes.txt"), "{");
    await writeFile(join(dir, "upper.JSON"), "{");
    await writeFile(join(dir, "nop.json"), JSON.stringify(METADATA_GOOD["nop.json"]));
    const log: string[] = [];
    const index = await loadMetadataDir(dir, (m) => log.push(m));
    expect(index.files).toEqual(["nop.json"]);
    expect(log).toEqual([
      expect.stringMatching(/^skipping broken\.json: not valid JSON/),
      "skipping wrong_version.json: metadata version -1 not supported",
    ]);
  });

  it("walks subdirectories and symlinked directories without looping", async () => {
    await mkdir(join(dir, "a", "b"), { recursive: true });
    await writeFile(join(dir, "a", "b", "zoo.json"), JSON.stringify(METADATA_GOOD["zoo_v4.json"]));
    await symlink(dir, join(dir, "a", "loop"));
    const index = await loadMetadataDir(dir, () => undefined);
    expect(index.files).toEqual(["a/b/zoo.json"]);
  });

  it("orders the global image index by file path", async () => {
    const repo = (name: string) => ({
      version: 1,
      repository: name,
      "repo-registry-id": name,
      url: `http://cdn.example.com/${name}/`,
      images: [{ id: "shared" }],
      tags: {},
    });
    await writeFile(join(dir, "b.json"), JSON.stringify(repo("beta")));
    await writeFile(join(dir, "a.json"), JSON.stringify(repo("alpha")));
    const index = await loadMetadataDir(dir, () => undefined);
    expect(index.images.get("shared")).toEqual(["alpha", "beta"]);
  });

  it("reports a missing data dir and returns an empty index", async () => {
    const log: string[] = [];
    const index = await loadMetadataDir(join(dir, "missing"), (m) => log.push(m));
    expect(index.files).toEqual([]);
    expect(log[0]).toMatch(/cannot read directory/);
  });
});

describe("fingerprint", () => {
  it("changes on an in-place edit that keeps the directory mtime", async () => {
    const file = join(dir, "x.json");
    await writeFile(file, "{}");
    const before = fingerprint(await walkTree(dir));
    await writeFile(file, '{"a": 1}');
    expect(fingerprint(await walkTree(dir))).not.toBe(before);
  });
});
