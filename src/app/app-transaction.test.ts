/**
 * The app repository through a kept bare copy: a run fetches only what is new into it, reads at
 * the branch's head and commits without a work tree; the copy keeps no URL (remotes may carry
 * credentials); a damaged copy never stops a publish; a run that loses the race to push
 * recomputes its change on the new head. Real git, a file:// remote (so git transfers objects
 * as it would over a network, instead of hard-linking them).
 */
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { gitOut, pushFiles, tempGitRemote } from "../../test/helpers/git.js";
import { RecordingReporter } from "../ui/reporter.js";
import { GitAppRepository } from "./app-transaction.js";

function appRepository(remote: string, objectCache?: string) {
  return new GitAppRepository({
    remote,
    branch: "main",
    reporter: new RecordingReporter(),
    ...(objectCache === undefined ? {} : { objectCache }),
  });
}

/** One publish through GitAppRepository; returns the commit it pushed. */
async function publish(remote: string, objectCache: string | undefined, files: Record<string, string>) {
  const app = appRepository(remote, objectCache);
  try {
    const { commit } = await app.update("publish", async (repo) => {
      for (const [file, data] of Object.entries(files)) await repo.write(file, data);
    });
    return commit;
  } finally {
    await app.close();
  }
}

/** Objects stored in the repository `dir` itself (loose and packed). */
function objectCount(dir: string): number {
  const counts = gitOut(dir, ["count-objects", "-v"]);
  return Number(/^count: (\d+)/m.exec(counts)?.[1]) + Number(/^in-pack: (\d+)/m.exec(counts)?.[1]);
}

describe("GitAppRepository with a kept copy", () => {
  it("fetches only what is new into the kept copy, checks nothing out, and keeps no remote URL", async () => {
    const { remote, root } = await tempGitRemote();
    const url = `file://${remote}`;
    // A history worth keeping: 40 commits of metadata.
    for (let i = 0; i < 40; i++) {
      await pushFiles(remote, "main", { [`data/r${i}.json`]: `{"n":${i}}\n` }, `c${i}`);
    }
    const cache = path.join(root, "state", "app-objects.git");

    const first = await publish(url, cache, { "data/new1.json": "{}\n" });
    expect(first).toMatch(/^[0-9a-f]{40}$/);
    expect(gitOut(cache, ["rev-parse", "--is-bare-repository"])).toBe("true");
    // A bare copy: git's own files only, no metadata file written out.
    expect((await readdir(cache)).sort()).not.toContain("data");
    const afterFirst = objectCount(cache);
    expect(afterFirst).toBeGreaterThan(160); // 41 commits, their trees and blobs

    // Another writer moves the branch on; the next run fetches its few objects, nothing more.
    await pushFiles(remote, "main", { "data/other.json": "{}\n" }, "other");
    const second = await publish(url, cache, { "data/new2.json": "{}\n" });
    // Theirs (commit, root tree, data tree, blob) and ours (the same four).
    expect(objectCount(cache) - afterFirst).toBeLessThanOrEqual(8);
    expect(gitOut(cache, ["rev-parse", "refs/heads/main"])).toBe(second);

    expect(gitOut(remote, ["log", "--format=%s", "-3"]).split("\n")).toEqual(["publish", "other", "publish"]);
    expect(gitOut(remote, ["rev-parse", "main~2"])).toBe(first);
    const files = gitOut(remote, ["ls-tree", "--name-only", "main", "data/"]).split("\n");
    expect(files).toHaveLength(43);
    expect(files).toEqual(expect.arrayContaining(["data/r0.json", "data/r39.json", "data/new2.json"]));
    expect(gitOut(cache, ["remote"])).toBe("");
    expect(await readFile(path.join(cache, "config"), "utf8")).not.toContain("file://");
  }, 180_000);

  it("publishes when the copy is damaged or cannot be created", async () => {
    const { remote, root } = await tempGitRemote();
    const url = `file://${remote}`;
    await pushFiles(remote, "main", { "data/a.json": "{}\n" }, "first");
    // A copy that is a git repository git then refuses to read.
    const broken = path.join(root, "broken.git");
    await publish(url, broken, { "data/b.json": "{}\n" });
    gitOut(root, ["-C", broken, "config", "core.repositoryformatversion", "99"]);
    const after = await publish(url, broken, { "data/c.json": "{}\n" });
    expect(after).toMatch(/^[0-9a-f]{40}$/);
    // A copy path where a file stands.
    const blocked = path.join(root, "file-here");
    await mkdir(path.dirname(blocked), { recursive: true });
    await writeFile(blocked, "not a directory");
    const third = await publish(url, path.join(blocked, "cache.git"), { "data/d.json": "{}\n" });
    expect(third).toMatch(/^[0-9a-f]{40}$/);
    expect(gitOut(remote, ["ls-tree", "--name-only", "HEAD", "data/"]).split("\n")).toEqual([
      "data/a.json",
      "data/b.json",
      "data/c.json",
      "data/d.json",
    ]);
  }, 180_000);

  it("reads its own writes, removes files, and commits nothing when the tree is unchanged", async () => {
    const { remote, root } = await tempGitRemote({
      files: { "data/a.json": "A\n", "data/b.json": "B\n", "registry.conf": "[general]\n" },
    });
    const before = gitOut(remote, ["rev-parse", "main"]);
    const app = appRepository(remote, path.join(root, "cache.git"));
    try {
      expect(await app.head()).toBe(before);
      expect(await app.read("data/a.json")).toBe("A\n");
      expect(await app.read("data/none.json")).toBeUndefined();
      // A folder is not a file; the reader skips its content and the next read is right.
      await expect(app.read("data")).rejects.toThrow(/is a tree, not a file/);
      expect(await app.read("data/b.json")).toBe("B\n");
      expect((await app.list("data")).sort()).toEqual(["a.json", "b.json"]);
      expect(await app.list("nowhere")).toEqual([]);
      const seen: (string | undefined)[] = [];
      const { commit } = await app.update("change", async (files) => {
        await files.write("data/a.json", "A2\n");
        seen.push(await files.read("data/a.json"));
        await files.remove("data/b.json");
        seen.push(await files.read("data/b.json"));
        await files.write("manifests/repo/sha256:00", Buffer.from([0, 1, 2]));
        await files.remove("data/never-there.json");
      });
      expect(seen).toEqual(["A2\n", undefined]);
      expect(gitOut(remote, ["rev-parse", "main^"])).toBe(before);
      expect(gitOut(remote, ["rev-parse", "main"])).toBe(commit);
      expect(gitOut(remote, ["ls-tree", "-r", "--name-only", "main"]).split("\n")).toEqual([
        "data/a.json",
        "manifests/repo/sha256:00",
        "registry.conf",
      ]);
      expect(gitOut(remote, ["show", "main:data/a.json"])).toBe("A2");
      // Reads after the update see its commit (push's metadata backup reads them).
      expect(await app.head()).toBe(commit);
      expect(await app.read("data/a.json")).toBe("A2\n");
      expect(await app.read("data/b.json")).toBeUndefined();
      // The same bytes again: no commit, the branch stays.
      const again = await app.update("same", async (files) => {
        await files.write("data/a.json", "A2\n");
      });
      expect(again.commit).toBeUndefined();
      expect(gitOut(remote, ["rev-parse", "main"])).toBe(commit);
    } finally {
      await app.close();
    }
  }, 120_000);

  it("refuses paths outside the repository and pushes nothing", async () => {
    const { remote, root } = await tempGitRemote({ files: { "data/a.json": "A\n" } });
    const before = gitOut(remote, ["rev-parse", "main"]);
    const app = appRepository(remote, path.join(root, "cache.git"));
    try {
      for (const bad of ["../x", "/etc/passwd", "data/../../x", ".git/config", "data/.GIT/x", "a\nb", ""]) {
        await expect(app.read(bad)).rejects.toThrow(/escapes the app repository/);
        await expect(
          app.update("bad", async (files) => {
            await files.write(bad, "x");
          }),
        ).rejects.toThrow(/escapes the app repository/);
      }
      expect(gitOut(remote, ["rev-parse", "main"])).toBe(before);
    } finally {
      await app.close();
    }
  }, 120_000);

  it("recomputes the change on the new head when another run pushed first", async () => {
    const { remote, root } = await tempGitRemote({ files: { "data/list.txt": "a\n" } });
    const cache = path.join(root, "cache.git");
    const slow = appRepository(remote, cache);
    try {
      // The slow run reads the head, then another run (sharing the copy) publishes first.
      expect(await slow.read("data/list.txt")).toBe("a\n");
      await publish(remote, cache, { "data/list.txt": "a\nb\n" });
      const bases: (string | undefined)[] = [];
      const { commit, attempts } = await slow.update("append c", async (files) => {
        const text = (await files.read("data/list.txt")) ?? "";
        bases.push(text);
        await files.write("data/list.txt", `${text}c\n`);
      });
      expect(attempts).toBe(2);
      expect(bases).toEqual(["a\n", "a\nb\n"]);
      expect(gitOut(remote, ["rev-parse", "main"])).toBe(commit);
      expect(gitOut(remote, ["show", "main:data/list.txt"])).toBe("a\nb\nc");
    } finally {
      await slow.close();
    }
  }, 120_000);

  it("packs the kept copy's loose objects once a run that committed finds too many", async () => {
    const { remote, root } = await tempGitRemote({ files: { "data/a.json": "A\n" } });
    const cache = path.join(root, "cache.git");
    const loose = () => Number(/^(\d+) objects/.exec(gitOut(cache, ["count-objects"]))?.[1]);
    const run = async (packAbove: number, file: string) => {
      const app = new GitAppRepository({
        remote,
        branch: "main",
        reporter: new RecordingReporter(),
        objectCache: cache,
        packAbove,
      });
      try {
        return (await app.update(`add ${file}`, (files) => files.write(file, `${file}\n`))).commit;
      } finally {
        await app.close();
      }
    };
    await run(1000, "data/b.json");
    const before = loose();
    expect(before).toBeGreaterThan(4); // the fetched commit's and ours, all loose
    const last = await run(4, "data/c.json");
    expect(loose()).toBe(0);
    // Packed, not lost: the whole history is readable from the copy.
    expect(gitOut(cache, ["rev-list", "--count", last ?? ""])).toBe("3");
    expect(gitOut(cache, ["show", `${last}:data/b.json`])).toBe("data/b.json");
  }, 120_000);
});
