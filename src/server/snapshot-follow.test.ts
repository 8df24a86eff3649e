import { execFileSync } from "node:child_process";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { METADATA_GOOD } from "../crane/testing/crane-fixtures.js";
import { loadServerConfig, type ServerConfig } from "./config.js";
import { FollowRepository } from "./follow-git.js";
import { FollowedMetadata } from "./snapshot-follow.js";
import { loadSnapshot, type Snapshot } from "./snapshot.js";
import { buildImages, makeAppRepo, publish, repoGit, type AppRepo } from "./testing/fixture.js";

let repo: AppRepo;
let config: ServerConfig;

const git = (...args: string[]) => repoGit(repo.root).git(...args);
const commitAll = (message: string) => repoGit(repo.root).commitAll(message);

beforeEach(async () => {
  repo = await makeAppRepo(
    () => `[general]
data_dir = data
[raas]
manifest_dir = manifests
`,
  );
  config = await loadServerConfig(repo.configPath, {});
  for (const [name, content] of Object.entries(METADATA_GOOD)) {
    await writeFile(join(repo.dataDir, name), JSON.stringify(content));
  }
  await publish(repo, "acme-app.json", buildImages("acme/app", "acme-app", "acme"));
  git("init", "--quiet", "-b", "main");
});

afterEach(async () => {
  await repo.cleanup();
});

/** What a request can see of a snapshot, in a form `toEqual` compares whole. */
function visible(snapshot: Snapshot) {
  const { index } = snapshot;
  return {
    v1: [...index.v1].map(([name, r]) => [name, r.file, r.imagesJson, r.tagsJson, r.meta]),
    v2: [...index.v2].map(([name, r]) => [name, r.file, r.meta]),
    images: [...index.images],
    files: index.files,
    manifests: [...snapshot.manifests].map(([key, m]) => [key, m.bytes.toString("base64"), m.headers]),
    approvals: snapshot.approvals,
  };
}

/** The follower's view at `commit` must equal a load from disk of the same tree. */
async function expectSameAsDisk(followed: FollowedMetadata, commit: string, followLog: string[]) {
  const diskLog: string[] = [];
  followLog.length = 0;
  const fromGit = await followed.load(commit);
  const fromDisk = await loadSnapshot(config, (m) => diskLog.push(m));
  expect(visible(fromGit)).toEqual(visible(fromDisk));
  // The same problems, naming the same files (manifests by their path in the repository).
  expect(followLog).toEqual(diskLog.map((line) => line.replace(repo.manifestDir, "manifests")));
  expect(fromGit.fingerprint).toBe(commit);
  return fromGit;
}

function follower(log: string[]) {
  const source = new FollowRepository({ remote: repo.root, branch: "main", dir: join(repo.root, ".follow") });
  return new FollowedMetadata(source, config, (m) => log.push(m));
}

describe("FollowedMetadata (metadata read from git at a commit, incrementally)", () => {
  it("loads a commit exactly as the data and manifest directories of its checkout load", async () => {
    await writeFile(join(repo.root, ".gitignore"), ".follow/\n");
    const first = commitAll("first");
    const log: string[] = [];
    const followed = follower(log);
    expect(await followed.repository.update()).toBe(first);
    const snap = await expectSameAsDisk(followed, first, log);
    expect(snap.index.v2.get("acme/app")).toBeDefined();
    expect(snap.manifests.size).toBeGreaterThan(0);
    expect(log).toEqual(["foo_v3.json: repository redhat/foo overrides the one in foo_v2.json"]);
    expect(followed.lastParsed).toBe(Object.keys(METADATA_GOOD).length + 1);
  });

  it("re-parses only the files a commit changed, added or removed, and reuses the rest", async () => {
    await writeFile(join(repo.root, ".gitignore"), ".follow/\n");
    const first = commitAll("first");
    const log: string[] = [];
    const followed = follower(log);
    await followed.repository.update();
    const before = await followed.load(first);
    const kept = before.index.v2.get("registry");

    // Changed, added, removed: three files; the others stay the parsed objects they were.
    const bar = METADATA_GOOD["bar.json"] as Record<string, unknown>;
    await writeFile(join(repo.dataDir, "bar.json"), JSON.stringify({ ...bar, tags: { newer: "abc123" } }));
    await writeFile(
      join(repo.dataDir, "added.json"),
      JSON.stringify({ ...bar, "repo-registry-id": "added/one" }),
    );
    await rm(join(repo.dataDir, "nop.json"));
    const second = commitAll("second");
    expect(await followed.repository.update()).toBe(second);
    const after = await expectSameAsDisk(followed, second, log);
    expect(followed.lastParsed).toBe(2);
    expect(after.index.v1.has("nop")).toBe(false);
    expect(after.index.v1.get("added/one")?.file).toBe("added.json");
    expect(after.index.v2.get("registry")).toBe(kept);
    // A commit that changes nothing the registry reads parses nothing.
    await writeFile(join(repo.root, "README.md"), "hello\n");
    const third = commitAll("readme");
    await followed.repository.update();
    await expectSameAsDisk(followed, third, log);
    expect(followed.lastParsed).toBe(0);
  });

  it("skips a bad file with the same problem line and keeps serving the rest; a fix brings it back", async () => {
    await writeFile(join(repo.root, ".gitignore"), ".follow/\n");
    commitAll("first");
    const log: string[] = [];
    const followed = follower(log);
    await followed.load(await followed.repository.update());
    await writeFile(join(repo.dataDir, "bar.json"), "{");
    const broken = commitAll("broken");
    await followed.repository.update();
    const snap = await expectSameAsDisk(followed, broken, log);
    expect(log.some((line) => /^skipping bar\.json: not valid JSON/.test(line))).toBe(true);
    expect(snap.index.v1.has("bar")).toBe(false);
    expect(snap.index.v2.has("acme/app")).toBe(true);
    await writeFile(join(repo.dataDir, "bar.json"), JSON.stringify(METADATA_GOOD["bar.json"]));
    const fixed = commitAll("fixed");
    await followed.repository.update();
    expect((await expectSameAsDisk(followed, fixed, log)).index.v1.has("bar")).toBe(true);
  });

  it("follows renames (a name moving to a file that sorts elsewhere changes which file wins)", async () => {
    await writeFile(join(repo.root, ".gitignore"), ".follow/\n");
    commitAll("first");
    const log: string[] = [];
    const followed = follower(log);
    await followed.load(await followed.repository.update());
    // foo_v3.json wins redhat/foo over foo_v2.json; renamed to a_foo_v3.json it sorts first and loses.
    await mkdir(join(repo.dataDir, "sub"), { recursive: true });
    await rename(join(repo.dataDir, "foo_v3.json"), join(repo.dataDir, "a_foo_v3.json"));
    await rename(join(repo.dataDir, "qux.json"), join(repo.dataDir, "sub", "qux.json"));
    const renamed = commitAll("renamed");
    await followed.repository.update();
    const snap = await expectSameAsDisk(followed, renamed, log);
    expect(snap.index.v2.get("redhat/foo")?.file).toBe("foo_v2.json");
    expect(snap.index.v1.get("qux")?.file).toBe("sub/qux.json");
    expect(log).toContain("foo_v2.json: repository redhat/foo overrides the one in a_foo_v3.json");
  });

  it("drops a manifest whose bytes do not match its name, and serves it again once fixed", async () => {
    await writeFile(join(repo.root, ".gitignore"), ".follow/\n");
    commitAll("first");
    const log: string[] = [];
    const followed = follower(log);
    const first = await followed.load(await followed.repository.update());
    const [key] = [...first.manifests.keys()];
    expect(key).toBeDefined();
    const good = first.manifests.get(key ?? "")?.bytes ?? Buffer.alloc(0);
    await writeFile(join(repo.manifestDir, key ?? ""), "tampered");
    const bad = commitAll("tampered");
    await followed.repository.update();
    const snap = await expectSameAsDisk(followed, bad, log);
    expect(snap.manifests.has(key ?? "")).toBe(false);
    expect(log.some((line) => line.startsWith(`skipping manifest manifests/${key}`))).toBe(true);
    await writeFile(join(repo.manifestDir, key ?? ""), good);
    const fixed = commitAll("fixed");
    await followed.repository.update();
    expect((await expectSameAsDisk(followed, fixed, log)).manifests.has(key ?? "")).toBe(true);
  });

  it("a failed load (a missing object) leaves the held commit and its snapshot in place", async () => {
    await writeFile(join(repo.root, ".gitignore"), ".follow/\n");
    const first = commitAll("first");
    const log: string[] = [];
    const followed = follower(log);
    await followed.repository.update();
    const held = await followed.load(first);
    await expect(followed.load("0".repeat(40))).rejects.toThrow(/git ls-tree failed/);
    expect(followed.commit).toBe(first);
    expect(await followed.load(first)).toBe(held);
  });

  it("a held commit that vanished from the repository (force-push, prune) is replaced by a whole load", async () => {
    await writeFile(join(repo.root, ".gitignore"), ".follow/\n");
    commitAll("first");
    const log: string[] = [];
    // Its own copy (no objects borrowed), fetched from a bare clone that is then rewritten.
    const bare = join(repo.root, ".follow-remote.git");
    git("clone", "--quiet", "--bare", "--no-local", repo.root, bare);
    const followed = new FollowedMetadata(
      new FollowRepository({ remote: `file://${bare}`, branch: "main", dir: join(repo.root, ".follow") }),
      config,
      (m) => log.push(m),
    );
    const doomed = await followed.repository.update();
    await followed.load(doomed);
    // Rewrite history in the follower's own copy, so the held commit's objects are really gone.
    await rm(join(repo.dataDir, "nop.json"));
    git("commit", "--quiet", "--amend", "-a", "-m", "rewritten");
    git("push", "--quiet", "--force", bare, "HEAD:main");
    const rewritten = await followed.repository.update();
    const dir = join(repo.root, ".follow");
    execFileSync("git", ["update-ref", "-d", "refs/raas/follow"], { cwd: dir });
    execFileSync("git", ["update-ref", "refs/raas/follow", rewritten], { cwd: dir });
    execFileSync("git", ["reflog", "expire", "--expire=now", "--all"], { cwd: dir });
    execFileSync("git", ["gc", "--quiet", "--prune=now"], { cwd: dir });
    expect(() => execFileSync("git", ["cat-file", "-e", doomed], { cwd: dir, stdio: "ignore" })).toThrow();
    const snap = await expectSameAsDisk(followed, rewritten, log);
    expect(snap.index.v1.has("nop")).toBe(false);
    expect(followed.lastParsed).toBe(Object.keys(METADATA_GOOD).length);
  });
});

describe("FollowRepository.readBlobs (one pipelined cat-file, objects handed over as they arrive)", () => {
  it("hands over every object whole and in order, however the answer is split into reads", async () => {
    // Sizes around and far above a pipe read (64 KiB), an empty one, and one repeated.
    const contents = [
      "",
      "a",
      "x".repeat(65_535),
      "y".repeat(65_536),
      "z".repeat(3 * 1024 * 1024 + 7),
      '{"k":"\n"}\n',
      "a",
    ].map((text, i) => Buffer.from(i === 4 ? text.replace(/z{64}$/, "\n".repeat(64)) : text));
    const oids = contents.map((content) =>
      execFileSync("git", ["hash-object", "-w", "--stdin"], { cwd: repo.root, input: content })
        .toString()
        .trim(),
    );
    const source = new FollowRepository({ remote: repo.root, branch: "main", dir: repo.root });
    const got: [string, string][] = [];
    await source.readBlobs(oids, (oid, data) => got.push([oid, Buffer.from(data).toString("base64")]));
    expect(got).toEqual(oids.map((oid, i) => [oid, contents[i]?.toString("base64")]));
    await source.readBlobs([], () => {
      throw new Error("no object was asked for");
    });
    const missing = "1".repeat(40);
    await expect(source.readBlobs([oids[1] ?? "", missing], () => undefined)).rejects.toThrow(
      `object ${missing} is missing from the followed repository`,
    );
    await expect(source.readBlobs(["not-an-oid"], () => undefined)).rejects.toThrow(/not an object id/);
  });
});
