/**
 * The app repository's object cache: a run clones with the cache as its reference, so history
 * the cache holds is not downloaded again; the cache keeps no URL (remotes may carry
 * credentials); a damaged cache never stops a publish. Real git, a file:// remote (so git
 * transfers objects as it would over a network, instead of hard-linking them).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { gitOut, pushFiles, tempGitRemote } from "../../test/helpers/git.js";
import { RecordingReporter } from "../ui/reporter.js";
import { GitAppRepository } from "./app-transaction.js";

/** One publish through GitAppRepository; returns the clone's own object count (not borrowed). */
async function publish(remote: string, objectCache: string | undefined, files: Record<string, string>) {
  const app = new GitAppRepository({
    remote,
    branch: "main",
    reporter: new RecordingReporter(),
    ...(objectCache === undefined ? {} : { objectCache }),
  });
  try {
    let own = 0;
    let alternates = "";
    const { commit } = await app.update("publish", async (repo) => {
      for (const [file, data] of Object.entries(files)) await repo.write(file, data);
      // The clone is the parent of the first file written; measure it before the commit adds to it.
      const dir = (app as unknown as { dir: string }).dir;
      const counts = gitOut(dir, ["count-objects", "-v"]);
      own = Number(/^count: (\d+)/m.exec(counts)?.[1]) + Number(/^in-pack: (\d+)/m.exec(counts)?.[1]);
      alternates = await readFile(path.join(dir, ".git", "objects", "info", "alternates"), "utf8").catch(
        () => "",
      );
    });
    return { commit, own, alternates };
  } finally {
    await app.close();
  }
}

describe("GitAppRepository with an object cache", () => {
  it("clones by borrowing the cached history, and keeps no remote URL in the cache", async () => {
    const { remote, root } = await tempGitRemote();
    const url = `file://${remote}`;
    // A history worth caching: 40 commits of metadata.
    for (let i = 0; i < 40; i++) {
      await pushFiles(remote, "main", { [`data/r${i}.json`]: `{"n":${i}}\n` }, `c${i}`);
    }
    const cache = path.join(root, "state", "app-objects.git");

    const first = await publish(url, cache, { "data/new1.json": "{}\n" });
    expect(first.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(first.alternates.trim()).toBe(path.join(cache, "objects"));

    const second = await publish(url, cache, { "data/new2.json": "{}\n" });
    // Everything but the newest commit's few objects came from the cache.
    expect(second.own).toBeLessThan(10);
    const plain = await publish(url, undefined, { "data/new3.json": "{}\n" });
    expect(plain.own).toBeGreaterThan(45);

    expect(gitOut(remote, ["log", "--format=%s", "-3"]).split("\n")).toEqual([
      "publish",
      "publish",
      "publish",
    ]);
    expect(gitOut(cache, ["remote"])).toBe("");
    expect(await readFile(path.join(cache, "config"), "utf8")).not.toContain("file://");
  }, 180_000);

  it("publishes when the cache is damaged or cannot be created", async () => {
    const { remote, root } = await tempGitRemote();
    const url = `file://${remote}`;
    await pushFiles(remote, "main", { "data/a.json": "{}\n" }, "first");
    // A cache directory that is a git repository with its objects gone.
    const broken = path.join(root, "broken.git");
    await publish(url, broken, { "data/b.json": "{}\n" });
    gitOut(root, ["-C", broken, "config", "core.repositoryformatversion", "99"]);
    const after = await publish(url, broken, { "data/c.json": "{}\n" });
    expect(after.commit).toMatch(/^[0-9a-f]{40}$/);
    // A cache path where a file stands.
    const blocked = path.join(root, "file-here");
    await mkdir(path.dirname(blocked), { recursive: true });
    await writeFile(blocked, "not a directory");
    const third = await publish(url, path.join(blocked, "cache.git"), { "data/d.json": "{}\n" });
    expect(third.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(gitOut(remote, ["ls-tree", "--name-only", "HEAD", "data/"]).split("\n")).toEqual([
      "data/a.json",
      "data/b.json",
      "data/c.json",
      "data/d.json",
    ]);
  }, 180_000);
});
