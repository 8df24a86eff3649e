import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { UserError } from "../errors.js";
import { gitOut, pushFiles, tempDir, tempGitRemote, writeTree } from "../../test/helpers/git.js";
import {
  clone,
  commitAll,
  commitAndPushRecomputing,
  ensureClone,
  headCommit,
  initBare,
  isGitRepo,
  push,
} from "./git.js";
import { redactUrl } from "./git-errors.js";

describe("initBare", () => {
  it("creates a bare repository on the given branch and leaves an existing one alone", async () => {
    const dir = path.join(await tempDir(), "app.git");
    await initBare(dir, { branch: "deploy" });
    expect(gitOut(dir, ["rev-parse", "--is-bare-repository"])).toBe("true");
    expect(gitOut(dir, ["symbolic-ref", "HEAD"])).toBe("refs/heads/deploy");
    await writeFile(path.join(dir, "description"), "kept");
    await initBare(dir, { branch: "deploy" });
    expect(await readFile(path.join(dir, "description"), "utf8")).toBe("kept");
  });
});

describe("ensureClone, commitAll, push", () => {
  it("starts from an empty remote, commits only real changes and pushes", async () => {
    const { remote, root } = await tempGitRemote();
    const work = path.join(root, "work");
    await ensureClone(remote, work, { branch: "main" });
    expect(await headCommit(work)).toBeUndefined();
    await writeFile(path.join(work, "a.txt"), "one\n");
    const sha = await commitAll(work, "first");
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    expect(await commitAll(work, "nothing")).toBeUndefined();
    await push(work, { branch: "main" });
    expect(gitOut(remote, ["rev-parse", "refs/heads/main"])).toBe(sha);
  });

  it("resets an existing clone to the remote, dropping leftovers", async () => {
    const { remote, root } = await tempGitRemote({ files: { "a.txt": "one\n" } });
    const work = path.join(root, "work");
    await ensureClone(remote, work, { branch: "main" });
    await writeFile(path.join(work, "a.txt"), "local edit\n");
    await writeFile(path.join(work, "stray.txt"), "left over\n");
    const newer = await pushFiles(remote, "main", { "b.txt": "two\n" }, "second");
    await ensureClone(remote, work, { branch: "main" });
    expect(await headCommit(work)).toBe(newer);
    expect(await readFile(path.join(work, "a.txt"), "utf8")).toBe("one\n");
    expect(gitOut(work, ["status", "--porcelain"])).toBe("");
  });

  it("follows a remote that changed in the configuration", async () => {
    const first = await tempGitRemote({ files: { "a.txt": "from first\n" } });
    const second = await tempGitRemote({ files: { "a.txt": "from second\n" } });
    const work = path.join(first.root, "work");
    await ensureClone(first.remote, work, { branch: "main" });
    await ensureClone(second.remote, work, { branch: "main" });
    expect(gitOut(work, ["remote", "get-url", "origin"])).toBe(second.remote);
    expect(await readFile(path.join(work, "a.txt"), "utf8")).toBe("from second\n");
  });

  it("refuses to take over a directory that is not a clone", async () => {
    const { remote, root } = await tempGitRemote();
    const work = path.join(root, "work");
    await writeTree(work, { "precious.txt": "do not touch" });
    await expect(ensureClone(remote, work, { branch: "main" })).rejects.toThrow(/is not a git clone of/);
    expect(await isGitRepo(work)).toBe(false);
  });

  it("refuses a push that lost a race, naming it as such", async () => {
    const { remote, root } = await tempGitRemote({ files: { "README.md": "x\n" } });
    const work = path.join(root, "work");
    await ensureClone(remote, work, { branch: "main" });
    const theirs = await pushFiles(remote, "main", { "acme-two.json": "{}\n" }, "theirs");
    await writeFile(path.join(work, "acme-one.json"), "{}\n");
    await commitAll(work, "ours");
    const err = await push(work, { branch: "main" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe("GIT_PUSH_RACE");
    expect(gitOut(remote, ["rev-parse", "main"])).toBe(theirs);
  });
});

describe("commitAndPushRecomputing", () => {
  /**
   * Adds `file` as a publish does: first on a clone made before any of them pushed (so all but
   * one lose the race), then on the remote's newest state.
   */
  const publishing = (remote: string, work: string, file: string, races: number[]) => ({
    branch: "main",
    message: `publish ${file}`,
    attempts: 8,
    prepare: async (attempt: number) => {
      if (attempt > 1) await ensureClone(remote, work, { branch: "main" });
      await writeFile(path.join(work, file), "{}\n");
      return work;
    },
    onRace: (attempt: number) => races.push(attempt),
  });

  it("lands concurrent pushes: the one that lost a race recomputes on the winner", async () => {
    const { remote, root } = await tempGitRemote({ files: { "README.md": "x\n" } });
    const races: number[] = [];
    for (const name of ["a", "b", "c"]) await ensureClone(remote, path.join(root, name), { branch: "main" });
    const results = await Promise.all([
      commitAndPushRecomputing(publishing(remote, path.join(root, "a"), "acme-one.json", races)),
      commitAndPushRecomputing(publishing(remote, path.join(root, "b"), "acme-two.json", races)),
      commitAndPushRecomputing(publishing(remote, path.join(root, "c"), "acme-three.json", races)),
    ]);
    expect(races.length).toBeGreaterThanOrEqual(2);
    expect(results.map((r) => r.attempts).sort()).toEqual(expect.arrayContaining([1, 2]));
    const files = gitOut(remote, ["ls-tree", "--name-only", "main"]).split("\n");
    expect(files).toEqual(
      expect.arrayContaining(["README.md", "acme-one.json", "acme-two.json", "acme-three.json"]),
    );
    expect(gitOut(remote, ["rev-list", "--count", "main"])).toBe("4");
    expect(results.map((r) => r.commit)).toContain(gitOut(remote, ["rev-parse", "main"]));
  });

  it("reapplies a change on top of a concurrent one instead of overwriting it", async () => {
    const { remote, root } = await tempGitRemote({ files: { "acme-app.json": "{}\n" } });
    const work = path.join(root, "work");
    await ensureClone(remote, work, { branch: "main" });
    await pushFiles(remote, "main", { "acme-app.json": '{"theirs":true}\n' }, "theirs");
    const seen: string[] = [];
    const result = await commitAndPushRecomputing({
      branch: "main",
      message: "ours",
      attempts: 3,
      prepare: async (attempt) => {
        // The first attempt works on the stale clone, as a run that started before theirs does.
        if (attempt > 1) await ensureClone(remote, work, { branch: "main" });
        const current = JSON.parse(await readFile(path.join(work, "acme-app.json"), "utf8")) as object;
        seen.push(JSON.stringify(current));
        await writeFile(path.join(work, "acme-app.json"), `${JSON.stringify({ ...current, ours: true })}\n`);
        return work;
      },
    });
    expect(result.attempts).toBe(2);
    expect(seen).toEqual(["{}", '{"theirs":true}']);
    expect(gitOut(remote, ["show", "main:acme-app.json"])).toBe('{"theirs":true,"ours":true}');
    expect(gitOut(work, ["status", "--porcelain"])).toBe("");
  });

  it("gives up on a remote that keeps moving, after the attempts it was given", async () => {
    const { remote, root } = await tempGitRemote({ files: { "README.md": "x\n" } });
    const work = path.join(root, "work");
    await ensureClone(remote, work, { branch: "main" });
    let n = 0;
    const err = await commitAndPushRecomputing({
      branch: "main",
      message: "ours",
      attempts: 2,
      prepare: async () => {
        // Someone else always pushes between our fetch and our push.
        await ensureClone(remote, work, { branch: "main" });
        n += 1;
        await writeFile(path.join(work, "ours.txt"), `${n}\n`);
        await pushFiles(remote, "main", { [`theirs-${n}.txt`]: "x\n" }, `theirs ${n}`);
        return work;
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe("GIT_PUSH_RACE");
    expect((err as Error).message).toMatch(/gave up after 2 attempts/);
    expect(n).toBe(2);
    expect(gitOut(remote, ["ls-tree", "--name-only", "main"]).split("\n")).not.toContain("ours.txt");
  });
});

describe("git failures become UserErrors naming the remote", () => {
  it("unreachable remote", async () => {
    const root = await tempDir();
    const missing = path.join(root, "nowhere.git");
    const err = await clone(missing, path.join(root, "c")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe("GIT_UNREACHABLE");
    expect((err as Error).message).toContain(missing);
  });

  it("missing branch", async () => {
    const { remote, root } = await tempGitRemote({ files: { "raas.cfg": "" } });
    const err = await clone(remote, path.join(root, "c"), { branch: "prod", depth: 1 }).catch(
      (e: unknown) => e,
    );
    expect((err as UserError).code).toBe("GIT_NO_BRANCH");
  });

  it("authentication failure, without leaking the token in the URL", async () => {
    const server = createServer((_req, res) => {
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="git"' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    const url = `http://robot:s3cr3t@127.0.0.1:${port}/acme/app.git`;
    const err = await clone(url, path.join(await tempDir(), "c")).catch((e: unknown) => e);
    expect((err as UserError).code).toBe("GIT_AUTH");
    expect((err as Error).message).toContain(`127.0.0.1:${port}/acme/app.git`);
    expect((err as Error).message).not.toContain("s3cr3t");
  });

  it("runs with an editor and pager configured in the environment", async () => {
    vi.stubEnv("EDITOR", "vim");
    vi.stubEnv("GIT_PAGER", "less");
    onTestFinished(() => void vi.unstubAllEnvs());
    const { remote, root } = await tempGitRemote({ files: { "a.txt": "a" } });
    await ensureClone(remote, path.join(root, "w"), { branch: "main" });
    expect(await headCommit(path.join(root, "w"))).toMatch(/^[0-9a-f]{40}$/);
  });
});

describe("redactUrl", () => {
  it("hides user info wherever a URL appears", () => {
    expect(redactUrl("fatal: https://u:tok@git.example/x.git and ssh://git@h/y")).toBe(
      "fatal: https://***@git.example/x.git and ssh://***@h/y",
    );
    expect(redactUrl("/srv/git/app.git")).toBe("/srv/git/app.git");
  });
});
