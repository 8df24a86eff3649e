/**
 * Real git repositories in temp dirs for tests. Raw git runs through execFileSync with an
 * argument array so the helpers do not depend on the code under test; every directory is
 * removed when the test that made it finishes.
 */
import { execFileSync } from "node:child_process";
import { chmod, cp, mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { onTestFinished } from "vitest";

/** A fresh temp directory, removed after the current test. */
export async function tempDir(prefix = "raas-test-"): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Run git in `cwd` and return its trimmed stdout; throws on a non-zero exit. */
export function gitOut(cwd: string, args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, GIT_TERMINAL_PROMPT: "0" },
  }).trim();
}

/** Write files (relative path -> content) under `dir`, creating folders as needed. */
export async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

export interface TempRemote {
  /** Path of the bare repository; usable as a git URL. */
  remote: string;
  /** The temp dir holding it (and room for clones). */
  root: string;
}

/**
 * A bare repository in a temp dir. With `files`, it gets a first commit with them on `branch`
 * (pushed from a scratch clone), so tests can clone something real.
 */
export async function tempGitRemote(
  options: { branch?: string; files?: Record<string, string> } = {},
): Promise<TempRemote> {
  const branch = options.branch ?? "main";
  const root = await tempDir("raas-git-");
  const remote = path.join(root, "remote.git");
  gitOut(root, ["init", "--quiet", "--bare", `--initial-branch=${branch}`, remote]);
  if (options.files !== undefined) await pushFiles(remote, branch, options.files, "initial");
  return { remote, root };
}

/** Commit `files` on top of `branch` of `remote` (creating the branch if needed) from a scratch clone. */
export async function pushFiles(
  remote: string,
  branch: string,
  files: Record<string, string>,
  message: string,
): Promise<string> {
  const work = await tempDir("raas-git-work-");
  gitOut(work, ["clone", "--quiet", remote, "."]);
  const branches = gitOut(work, ["ls-remote", "--heads", "origin", branch]);
  if (branches === "") gitOut(work, ["checkout", "--quiet", "--orphan", branch]);
  else gitOut(work, ["checkout", "--quiet", "-B", branch, `origin/${branch}`]);
  await writeTree(work, files);
  gitOut(work, ["add", "--all"]);
  gitOut(work, ["commit", "--quiet", "-m", message]);
  gitOut(work, ["push", "--quiet", "origin", `HEAD:refs/heads/${branch}`]);
  return gitOut(work, ["rev-parse", "HEAD"]);
}

/**
 * A stand-in registry server: answers /v1/_ping and /v2/ like the real one, and GET /data with
 * the names of the metadata files in its data_dir, so tests can see a push being deployed.
 * It reads `listen`, `port` and `data_dir` from the registry.conf it is given.
 */
export const STAND_IN_SERVER = `import { createServer } from "node:http";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
const at = process.argv.indexOf("--config");
if (at < 0) throw new Error("--config is required");
const file = process.argv[at + 1];
const text = readFileSync(file, "utf8");
const get = (key) => (new RegExp("^" + key + " = (.*)$", "m").exec(text) ?? [])[1] ?? "";
const dataDir = resolve(dirname(file), get("data_dir"));
const server = createServer((req, res) => {
  if (req.url === "/v1/_ping") return res.writeHead(200, { "content-type": "application/json" }).end("true");
  if (req.url === "/v2/") return res.writeHead(200, { "content-type": "application/json" }).end("{}");
  if (req.url === "/data") return res.writeHead(200).end(JSON.stringify(readdirSync(dataDir).sort()));
  res.writeHead(404).end();
});
server.listen(Number(get("port")), get("listen"), () => console.log("stand-in listening"));
process.on("SIGTERM", () => server.close());
`;

/**
 * A copy of the raas package layout for app-repository tests: package.json (with our real
 * dependency versions), templates/ linked from the source tree, and a dist/ holding the
 * stand-in server, so tests do not depend on a build.
 */
export async function fakeRaasPackage(repoRoot: string): Promise<string> {
  const root = await tempDir("raas-pkg-");
  await writeTree(root, {
    "package.json": await readFile(path.join(repoRoot, "package.json"), "utf8"),
    "dist/server-bundle/main.js": STAND_IN_SERVER,
    "dist/server-bundle/main.js.LEGAL.txt": "Bundled license information: none in the stand-in\n",
  });
  await cp(path.join(repoRoot, "templates"), path.join(root, "templates"), { recursive: true });
  return root;
}

/**
 * An app repository as the local platform deploys it: a bare remote under `root` seeded with
 * `data/` and `manifests/` (plus `extra` files), and a post-receive hook that checks every push
 * out into `deploy`, where a registry server reads it. Returns the remote and the deploy folder.
 */
export async function deployedAppRemote(
  root: string,
  extra: Record<string, string> = {},
): Promise<{ remote: string; deploy: string }> {
  const remote = path.join(root, "remote.git");
  const deploy = path.join(root, "deploy");
  gitOut(root, ["init", "--quiet", "--bare", "--initial-branch=main", remote]);
  const seed = path.join(root, "seed");
  gitOut(root, ["clone", "--quiet", remote, seed]);
  await writeTree(seed, { "data/README": "metadata\n", "manifests/README": "manifests\n", ...extra });
  gitOut(seed, ["add", "-A"]);
  gitOut(seed, [
    "-c",
    "user.name=setup",
    "-c",
    "user.email=setup@example.invalid",
    "commit",
    "--quiet",
    "-m",
    "initial",
  ]);
  gitOut(seed, ["push", "--quiet", "origin", "HEAD:main"]);
  const hook = path.join(remote, "hooks", "post-receive");
  await writeFile(hook, `#!/bin/sh\nexec git --work-tree="${deploy}" checkout -f main\n`);
  await chmod(hook, 0o755);
  await mkdir(deploy, { recursive: true });
  gitOut(root, [`--git-dir=${remote}`, `--work-tree=${deploy}`, "checkout", "-f", "main"]);
  return { remote, deploy };
}
