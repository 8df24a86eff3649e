/**
 * How `raas push` treats the names an archive records and the names its flags give, through
 * the whole CLI into local storage and a real app remote: `--rename-tag` never lets one of two
 * source tags silently win a published tag, and names that break the grammar are reported (on
 * stderr and in --json), never dropped without a word.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerArchiveEntries } from "../helpers/image-builder.js";
import { setUpRefusalIsv, type RefusalIsv } from "../helpers/refusal-isv.js";
import { writeTar } from "../helpers/tar-writer.js";

const ISV = "names";

/** A `docker save` archive of one small image whose manifest.json entry has these RepoTags. */
async function archiveWithRepoTags(path: string, repoTags: string[], seed = "names"): Promise<string> {
  const { entries } = await dockerArchiveEntries(path, [
    { name: "acme/app", tag: "1", layers: 1, layerSeeds: [seed] },
  ]);
  const manifest = entries.find((e) => e.name === "manifest.json");
  if (manifest === undefined || typeof manifest.data !== "string") throw new Error("no manifest.json");
  const doc = JSON.parse(manifest.data) as { RepoTags: string[] }[];
  for (const entry of doc) entry.RepoTags = repoTags;
  manifest.data = JSON.stringify(doc);
  await writeTar(path, entries);
  return path;
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
    const input = await archiveWithRepoTags(join(dir, "two-tags.tar"), ["acme/app:1", "acme/app:2"]);
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
    const input = await archiveWithRepoTags(join(dir, "swap.tar"), ["acme/app:1", "acme/app:2"], "swap");
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
    const result = JSON.parse(run.stdout) as { images: { name: string; tags: string[] }[] };
    expect(result.images).toMatchObject([{ name: "acme/app", tags: ["1", "2"] }]);
  });
});
