import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { UserError } from "../errors.js";
import { gitOut, pushFiles, tempDir, tempGitRemote, writeTree } from "../../test/helpers/git.js";
import { clone, commitAll, ensureClone, headCommit, initBare, isGitRepo, push } from "./git.js";
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

  it("retries a push that lost a race by rebasing onto the winner", async () => {
    const { remote, root } = await tempGitRemote({ files: { "README.md": "x\n" } });
    const [a, b] = [path.join(root, "a"), path.join(root, "b")];
    await ensureClone(remote, a, { branch: "main" });
    await ensureClone(remote, b, { branch: "main" });
    await writeFile(path.join(a, "acme-one.json"), "{}\n");
    await writeFile(path.join(b, "acme-two.json"), "{}\n");
    await commitAll(a, "publish one");
    await commitAll(b, "publish two");
    const retries: number[] = [];
    await Promise.all([
      push(a, { branch: "main", backoffMs: 10, onRetry: (n) => retries.push(n) }),
      push(b, { branch: "main", backoffMs: 10, onRetry: (n) => retries.push(n) }),
    ]);
    expect(retries.length).toBeGreaterThan(0);
    const files = gitOut(remote, ["ls-tree", "--name-only", "main"]).split("\n");
    expect(files).toEqual(expect.arrayContaining(["README.md", "acme-one.json", "acme-two.json"]));
    expect(gitOut(remote, ["rev-list", "--count", "main"])).toBe("3");
  });

  it("reports a conflicting concurrent change instead of overwriting it", async () => {
    const { remote, root } = await tempGitRemote({ files: { "acme-app.json": "{}\n" } });
    const work = path.join(root, "work");
    await ensureClone(remote, work, { branch: "main" });
    await pushFiles(remote, "main", { "acme-app.json": '{"theirs":true}\n' }, "theirs");
    await writeFile(path.join(work, "acme-app.json"), '{"ours":true}\n');
    await commitAll(work, "ours");
    const err = await push(work, { branch: "main", backoffMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe("GIT_CONFLICT");
    expect(gitOut(work, ["status", "--porcelain"])).toBe("");
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
