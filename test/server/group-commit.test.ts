/**
 * The registry's metadata transactions against a real bare remote: changes waiting together are
 * committed together (one commit per author, one push), a change that throws is rolled back
 * alone, a race with another writer recomputes the batch, and reads share the batch's fetch.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GitMetadataRepository } from "../../src/server/git-metadata.js";
import { gitOut, pushFiles, tempGitRemote } from "../helpers/git.js";

const alice = { name: "alice", email: "alice@example.test" };
const bob = { name: "bob", email: "bob@example.test" };

async function setup() {
  const { remote, root } = await tempGitRemote({ files: { "data/list.txt": "" } });
  const repo = new GitMetadataRepository({ remote, branch: "main", cloneDir: join(root, "clone") });
  const log = (format: string) => gitOut(root, [`--git-dir=${remote}`, "log", `--format=${format}`, "main"]);
  const show = (path: string) => gitOut(root, [`--git-dir=${remote}`, "show", `main:${path}`]);
  return { remote, root, repo, log, show };
}

/** A change appending `line` to data/list.txt (so each sees what the previous ones wrote). */
const append =
  (line: string) =>
  async (files: {
    read(p: string): Promise<string | undefined>;
    write(p: string, d: string): Promise<void>;
  }) => {
    const text = (await files.read("data/list.txt")) ?? "";
    await files.write("data/list.txt", `${text}${line}\n`);
  };

describe("group commit of metadata changes", () => {
  it("changes waiting together become one commit per author and one push; each sees the previous", async () => {
    const { repo, log, show } = await setup();
    const first = repo.update("first", append("first"), alice);
    // These wait while the first batch is committed, then go together.
    const rest = [
      repo.update("a1", append("a1"), alice),
      repo.update("b1", append("b1"), bob),
      repo.update("a2", append("a2"), alice),
      repo.update("b2", append("b2"), bob),
    ];
    const results = await Promise.all([first, ...rest]);
    expect(results.every((r) => r.commit !== undefined)).toBe(true);
    const lines = show("data/list.txt").split("\n");
    expect(lines.sort()).toEqual(["a1", "a2", "b1", "b2", "first"]);
    expect(repo.stats.batches).toBe(2);
    expect(repo.stats.pushes).toBe(2);
    // The first alone, then one commit for alice's two and one for bob's two.
    expect(repo.stats.commits).toBe(3);
    const commits = log("%an|%s").split("\n");
    expect(commits.slice(0, 3)).toEqual(
      expect.arrayContaining(["alice|a1 and 1 more", "bob|b1 and 1 more", "alice|first"]),
    );
    expect(results[1]!.commit).toBe(results[3]!.commit);
    expect(results[2]!.commit).toBe(results[4]!.commit);
    expect(results[1]!.commit).not.toBe(results[2]!.commit);
    expect(log("%B")).toContain("a1\na2");
  });

  it("a change that throws after writing is rolled back alone; the others are committed", async () => {
    const { repo, show } = await setup();
    const first = repo.update("first", append("first"), alice);
    const failing = repo.update(
      "fails",
      async (files) => {
        await files.write("data/list.txt", "clobbered\n");
        await files.write("data/stray.json", "{}");
        throw new Error("refused inside the transaction");
      },
      alice,
    );
    const after = repo.update("after", append("after"), alice);
    const unchanged = repo.update("nothing", () => Promise.resolve(), alice);
    await expect(failing).rejects.toThrow("refused inside the transaction");
    const [a, b, c] = await Promise.all([first, after, unchanged]);
    expect(a.commit).toBeDefined();
    expect(b.commit).toBeDefined();
    expect(c.commit).toBeUndefined();
    expect(show("data/list.txt").split("\n")).toEqual(["first", "after"]);
    expect(() => show("data/stray.json")).toThrow();
  });

  it("a batch that loses a race with another writer is recomputed on the new state", async () => {
    const { remote, repo, show } = await setup();
    let raced = false;
    const result = await repo.update(
      "ours",
      async (files) => {
        if (!raced) {
          raced = true;
          // Another writer pushes between our fetch and our push.
          await pushFiles(remote, "main", { "data/list.txt": "theirs\n" }, "theirs");
        }
        await append("ours")(files);
      },
      alice,
    );
    expect(result.attempts).toBe(2);
    expect(show("data/list.txt").split("\n")).toEqual(["theirs", "ours"]);
  });

  it("reads waiting together share one fetch and see the remote's newest state", async () => {
    const { remote, repo } = await setup();
    await pushFiles(remote, "main", { "data/x.txt": "x1" }, "x");
    const reads = await Promise.all([
      repo.read("data/x.txt"),
      repo.read("data/x.txt"),
      repo.read("data/none"),
    ]);
    expect(reads).toEqual(["x1", "x1", undefined]);
    expect(repo.stats.batches).toBeLessThanOrEqual(2);
    await expect(repo.read("../outside")).rejects.toThrow(/outside the app repository/);
  });
});
