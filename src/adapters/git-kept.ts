/**
 * Publishing through a kept bare copy of the app repository instead of a clone per run: the
 * branch's head is learnt with one `ls-remote`, fetched only when the copy lacks it, files are
 * read at that commit from git's objects, and a change becomes a commit without a work tree (a
 * private index: `read-tree`, `update-index`, `write-tree`, `commit-tree`), pushed by its id. A
 * publish then costs what it changes, however many files and commits the repository holds: no
 * checkout of every metadata file, no walk over them for `add` and `status`. Several runs may
 * share one copy: each has its own index, objects are written atomically, and the base commit
 * comes from the remote, never from a ref another run may be moving.
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { UserError, errorMessage } from "../errors.js";
import { gitEnv, isGitRepo, logGitLine } from "./git.js";
import { gitError, isNonFastForward, redactUrl } from "./git-errors.js";

const OID_RE = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** git with an argument array and optional stdin; stdout, or an error carrying git's stderr. */
function run(
  dir: string,
  args: string[],
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn("git", args, {
      cwd: dir,
      env: { ...gitEnv(), ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => {
      if (err.length < 8192) err += chunk.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => {
      logGitLine(`git ${redactUrl(args.join(" "))} (${Date.now() - started} ms, in ${dir})`);
      if (code === 0) resolve(Buffer.concat(out).toString("utf8"));
      else reject(new Error(`git ${args[0] ?? ""} failed: ${redactUrl(err.trim()) || `exit ${code}`}`));
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/**
 * A path of the app repository as git names it: relative, `/`-separated, no empty, `.`, `..`
 * or `.git` segment, no line break (cat-file reads one name per line) and no NUL.
 */
export function repoPath(file: string): string {
  const segments = file.split("/");
  const bad =
    file.length === 0 ||
    file.length > 4096 ||
    /[\n\r\0\\]/.test(file) ||
    segments.some((s) => s === "" || s === "." || s === ".." || s.toLowerCase() === ".git");
  if (bad) throw new Error(`path ${JSON.stringify(file)} escapes the app repository`);
  return file;
}

/** Create the bare repository `dir` unless it is one; it is never garbage-collected by git itself. */
export async function openKeptRepository(dir: string): Promise<void> {
  if (await isGitRepo(dir)) return;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await run(dir, ["init", "--quiet", "--bare"]);
  await run(dir, ["config", "gc.auto", "0"]);
}

/** The commit `branch` of `remote` is at, or undefined when the remote has no such branch yet. */
export async function remoteBranchHead(
  dir: string,
  remote: string,
  branch: string,
): Promise<string | undefined> {
  let out: string;
  try {
    out = await run(dir, ["ls-remote", "--", remote, `refs/heads/${branch}`]);
  } catch (err) {
    throw gitError(err, `reading ${redactUrl(remote)}`, remote);
  }
  for (const line of out.split("\n")) {
    const [oid = "", ref = ""] = line.split("\t");
    if (ref.trim() === `refs/heads/${branch}` && OID_RE.test(oid)) return oid;
  }
  return undefined;
}

async function hasCommit(dir: string, commit: string): Promise<boolean> {
  const out = await run(dir, ["rev-parse", "--verify", "--quiet", `${commit}^{commit}`]).catch(() => "");
  return out.trim() === commit;
}

/**
 * Make sure `dir` holds `commit`, the head of `branch` at `remote`: nothing to do when an
 * earlier run fetched it (or made it), otherwise one fetch of what is new. Runs sharing `dir`
 * may fetch at once: the loser of the ref's lock still has the objects it received.
 */
export async function fetchBranchHead(
  dir: string,
  remote: string,
  branch: string,
  commit: string,
): Promise<void> {
  if (await hasCommit(dir, commit)) return;
  try {
    await run(dir, [
      "fetch",
      "--quiet",
      "--no-tags",
      "--no-write-fetch-head",
      "--",
      remote,
      `+refs/heads/${branch}:refs/heads/${branch}`,
    ]);
  } catch (err) {
    if (!(await hasCommit(dir, commit))) throw gitError(err, `fetching ${redactUrl(remote)}`, remote);
  }
  // The branch moved on between ls-remote and fetch: `commit` came with the newer one, unless
  // it was force-pushed away; then the push below is refused and the run starts again.
  if (!(await hasCommit(dir, commit))) {
    throw new UserError(`${redactUrl(remote)}: the branch ${branch} moved on meanwhile`, {
      hint: "Another publish is running for this ISV; run the command again.",
      code: "GIT_PUSH_RACE",
    });
  }
}

/** The names in folder `sub` at `commit` (files and folders, like readdir); [] when there is none. */
export async function listAt(dir: string, commit: string, sub: string): Promise<string[]> {
  const out = await run(dir, ["ls-tree", "-z", "--name-only", `${commit}:${repoPath(sub)}`]).catch(() => "");
  return out.split("\0").filter((name) => name !== "");
}

/** A file written (`data`) or removed (`data` undefined) by a commit. */
export interface TreeChange {
  path: string;
  data: Buffer | undefined;
}

/**
 * Machines without a git identity (fresh CI runners, containers) can still commit: raas
 * then signs as itself, for this command only (nothing is written into a config).
 */
async function identityEnv(dir: string): Promise<Record<string, string>> {
  const env = process.env;
  if (env.GIT_AUTHOR_EMAIL !== undefined && env.GIT_COMMITTER_EMAIL !== undefined) return {};
  const email = await run(dir, ["config", "--get", "user.email"]).catch(() => "");
  if (email.trim() !== "") return {};
  return {
    GIT_AUTHOR_NAME: env.GIT_AUTHOR_NAME ?? "raas",
    GIT_AUTHOR_EMAIL: env.GIT_AUTHOR_EMAIL ?? "raas@localhost",
    GIT_COMMITTER_NAME: env.GIT_COMMITTER_NAME ?? "raas",
    GIT_COMMITTER_EMAIL: env.GIT_COMMITTER_EMAIL ?? "raas@localhost",
  };
}

/**
 * `changes` on top of `base` (undefined: the first commit) as one commit in `dir`, without a
 * work tree; undefined when the tree comes out unchanged. Only the changed paths are hashed;
 * git reuses every other tree of `base` as it is.
 */
export async function commitChanges(
  dir: string,
  base: string | undefined,
  changes: readonly TreeChange[],
  message: string,
): Promise<string | undefined> {
  const tmp = await mkdtemp(path.join(tmpdir(), "raas-index-"));
  const env = { GIT_INDEX_FILE: path.join(tmp, "index") };
  try {
    await run(dir, base === undefined ? ["read-tree", "--empty"] : ["read-tree", base], { env });
    const writes = changes.filter((c) => c.data !== undefined);
    const files: string[] = [];
    for (const [i, change] of writes.entries()) {
      const file = path.join(tmp, `file-${i}`);
      await writeFile(file, change.data ?? "");
      files.push(file);
    }
    const oids =
      files.length === 0
        ? []
        : (
            await run(dir, ["hash-object", "-w", "--no-filters", "--stdin-paths"], {
              input: `${files.join("\n")}\n`,
            })
          )
            .trim()
            .split("\n");
    const zero = "0".repeat(base?.length ?? oids[0]?.length ?? 40);
    let next = 0;
    const lines = changes.map((change) => {
      const where = repoPath(change.path);
      if (change.data === undefined) return `0 ${zero}\t${where}\0`;
      const oid = oids[next++] ?? "";
      if (!OID_RE.test(oid)) throw new Error(`git hash-object answered ${JSON.stringify(oid.slice(0, 80))}`);
      return `100644 ${oid}\t${where}\0`;
    });
    await run(dir, ["update-index", "-z", "--index-info"], { input: lines.join(""), env });
    const tree = (await run(dir, ["write-tree"], { env })).trim();
    const before =
      base === undefined
        ? (await run(dir, ["hash-object", "-t", "tree", "--stdin"])).trim()
        : (await run(dir, ["rev-parse", `${base}^{tree}`])).trim();
    if (tree === before) return undefined;
    const parents = base === undefined ? [] : ["-p", base];
    const text = message.endsWith("\n") ? message : `${message}\n`;
    const commit = await run(dir, ["commit-tree", tree, ...parents, "-F", "-"], {
      input: text,
      env: await identityEnv(dir),
    });
    return commit.trim();
  } catch (err) {
    throw gitError(err, `committing in ${dir}`, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Push `commit` to `branch` of `remote`, once. A branch that moved on meanwhile is a
 * GIT_PUSH_RACE UserError (the caller recomputes its change on the new head). The kept
 * copy's own ref follows, so the next run finds the commit without fetching it.
 */
export async function pushCommit(dir: string, remote: string, commit: string, branch: string): Promise<void> {
  try {
    await run(dir, ["push", "--quiet", "--", remote, `${commit}:refs/heads/${branch}`]);
  } catch (err) {
    if (!isNonFastForward(err)) throw gitError(err, `pushing to ${redactUrl(remote)}`, remote);
    throw new UserError(`pushing to ${redactUrl(remote)}: the branch ${branch} moved on meanwhile`, {
      hint: "Another publish is running for this ISV; run the command again.",
      code: "GIT_PUSH_RACE",
      cause: err,
    });
  }
  await run(dir, ["update-ref", `refs/heads/${branch}`, commit]).catch((err: unknown) =>
    logGitLine(`keeping ${commit.slice(0, 12)} as ${branch} in ${dir}: ${errorMessage(err)}`),
  );
}

/**
 * Pack the loose objects of `dir` (one incremental `repack`) once there are more than
 * `threshold`: every publish leaves a few loose objects there (its commit, its trees, the
 * files it wrote), and a `data/` tree of 10,000 files is a few hundred KB each time; packed
 * against each other they take almost nothing. Nothing is pruned, so what runs sharing the
 * copy have just written stays. Returns whether it packed.
 */
export async function packLooseObjects(dir: string, threshold: number): Promise<boolean> {
  const counts = await run(dir, ["count-objects"]);
  const loose = Number(/^(\d+) objects/.exec(counts)?.[1] ?? 0);
  if (loose <= threshold) return false;
  await run(dir, ["repack", "-d", "-q", "-l"]);
  return true;
}
