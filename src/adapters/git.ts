/**
 * Every git operation raas performs, and the only module that imports simple-git. Each
 * function takes the repository directory explicitly; nothing here changes the process cwd.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdir, readdir, realpath, stat } from "node:fs/promises";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { simpleGit, type SimpleGit } from "simple-git";
import { UserError } from "../errors.js";
import { gitError, isNonFastForward, redactUrl } from "./git-errors.js";

// Editors and pagers are never wanted in unattended runs, and simple-git refuses to run with them set.
const DROPPED_ENV = new Set(["EDITOR", "VISUAL", "PAGER", "GIT_EDITOR", "GIT_PAGER", "GIT_SEQUENCE_EDITOR"]);

export function gitEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !DROPPED_ENV.has(key.toUpperCase())) env[key] = value;
  }
  // Fail instead of waiting for a password nobody will type, and keep messages parseable.
  env.GIT_TERMINAL_PROMPT = "0";
  env.LC_ALL = "C";
  return env;
}

let debugLog: ((line: string) => void) | undefined;

/** Receive one line per git command (arguments with credentials redacted, exit timing) for --log debug. */
export function setGitLog(log: ((line: string) => void) | undefined): void {
  debugLog = log;
}

/** One line for --log debug from git commands run outside simple-git (already redacted). */
export function logGitLine(line: string): void {
  debugLog?.(line);
}

function git(baseDir: string): SimpleGit {
  const instance = simpleGit({
    baseDir,
    maxConcurrentProcesses: 4,
    // The environment is the operator's own (SSH command, askpass, config paths in CI), not
    // attacker input; simple-git would otherwise refuse to run whenever one of them is set.
    unsafe: {
      allowUnsafeSshCommand: true,
      allowUnsafeAskPass: true,
      allowUnsafeConfigPaths: true,
      allowUnsafeConfigEnvCount: true,
      allowUnsafeGitProxy: true,
    },
  }).env(gitEnv());
  if (debugLog !== undefined) {
    instance.outputHandler((_command, stdout, _stderr, args) => {
      const started = Date.now();
      stdout.once("close", () => {
        debugLog?.(`git ${redactUrl(args.join(" "))} (${Date.now() - started} ms, in ${baseDir})`);
      });
    });
  }
  return instance;
}

async function isDirectory(dir: string): Promise<boolean> {
  return (await stat(dir).catch(() => undefined))?.isDirectory() ?? false;
}

/** True when `dir` is the top of a work tree or a bare repository. */
export async function isGitRepo(dir: string): Promise<boolean> {
  if (!(await isDirectory(dir))) return false;
  try {
    const g = git(dir);
    const bare = (await g.raw(["rev-parse", "--is-bare-repository"])).trim() === "true";
    const top = (await g.raw(["rev-parse", bare ? "--absolute-git-dir" : "--show-toplevel"])).trim();
    // A plain directory inside some other work tree answers with that tree's top.
    return (await realpath(top)) === (await realpath(dir));
  } catch {
    return false;
  }
}

/** Create a bare repository whose HEAD names `branch`; an existing bare repository is left alone. */
export async function initBare(dir: string, options: { branch?: string } = {}): Promise<void> {
  const branch = options.branch ?? "main";
  if (await isGitRepo(dir)) return;
  await mkdir(dir, { recursive: true });
  const g = git(dir);
  try {
    await g.init(true);
    await g.raw(["symbolic-ref", "HEAD", `refs/heads/${branch}`]);
  } catch (err) {
    throw gitError(err, "creating the git repository", dir);
  }
}

export interface CloneOptions {
  branch?: string;
  /** Shallow clone of this many commits. */
  depth?: number;
  /** A local repository holding (some of) the remote's objects: borrowed, not copied or fetched again. */
  reference?: string;
  /** No work tree: the files are read from git's objects. */
  noCheckout?: boolean;
}

export async function clone(remote: string, dir: string, options: CloneOptions = {}): Promise<void> {
  await mkdir(path.dirname(dir), { recursive: true });
  const args: string[] = [];
  if (options.branch !== undefined) args.push("--branch", options.branch, "--single-branch");
  if (options.depth !== undefined) args.push("--depth", String(options.depth));
  if (options.reference !== undefined) args.push("--reference-if-able", options.reference);
  if (options.noCheckout === true) args.push("--no-checkout");
  try {
    await git(path.dirname(dir)).clone(remote, dir, args);
  } catch (err) {
    throw gitError(err, `cloning ${redactUrl(remote)}`, remote);
  }
}

/** The URL of remote `name`, or undefined when there is none. */
export async function remoteUrl(dir: string, name = "origin"): Promise<string | undefined> {
  try {
    return (await git(dir).raw(["remote", "get-url", name])).trim();
  } catch {
    return undefined;
  }
}

async function hasRef(g: SimpleGit, ref: string): Promise<boolean> {
  // simple-git resolves a failed command that wrote nothing to stderr, so judge by the output.
  try {
    return (await g.raw(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`])).trim() !== "";
  } catch {
    return false;
  }
}

/**
 * Make `dir` a clean clone of `remote` at `branch`: clone it when missing, otherwise fetch and
 * hard-reset to the remote branch, dropping local leftovers from an interrupted run. A remote
 * without that branch yet (a fresh bare repo) leaves an unborn `branch` ready for a first commit.
 */
export async function ensureClone(
  remote: string,
  dir: string,
  options: { branch: string; reference?: string },
): Promise<void> {
  const { branch } = options;
  if (!(await isGitRepo(dir))) {
    const entries = (await isDirectory(dir)) ? await readdir(dir) : [];
    if (entries.length > 0) {
      throw new UserError(`${dir} exists but is not a git clone of ${redactUrl(remote)}`, {
        hint: "Move it away; raas owns this directory and will clone it again.",
      });
    }
    await clone(remote, dir, options.reference === undefined ? {} : { reference: options.reference });
  }
  const g = git(dir);
  try {
    // The configured remote may have changed since the clone was made; follow it.
    const current = await remoteUrl(dir);
    if (current === undefined) await g.addRemote("origin", remote);
    else if (current !== remote) await g.remote(["set-url", "origin", remote]);
    await g.fetch(["--prune", "origin"]);
    if (await hasRef(g, `refs/remotes/origin/${branch}`)) {
      await g.raw(["checkout", "--force", "-B", branch, `origin/${branch}`]);
      await g.raw(["reset", "--hard", `origin/${branch}`]);
      await g.raw(["clean", "-fd"]);
    } else if (!(await hasRef(g, "HEAD"))) {
      await g.raw(["symbolic-ref", "HEAD", `refs/heads/${branch}`]);
    }
  } catch (err) {
    throw gitError(err, `updating ${dir} from ${redactUrl(remote)}`, remote);
  }
}

/**
 * Clone without writing a work tree (`--no-checkout`): for readers of the newest commit only,
 * which read files from git's objects. HEAD is set to `branch`; false when the remote has no
 * such branch yet (an empty repository).
 */
export async function cloneWithoutCheckout(remote: string, dir: string, branch: string): Promise<boolean> {
  await clone(remote, dir, { noCheckout: true });
  const g = git(dir);
  try {
    if (!(await hasRef(g, `refs/remotes/origin/${branch}`))) return false;
    await g.raw(["update-ref", `refs/heads/${branch}`, `refs/remotes/origin/${branch}`]);
    await g.raw(["symbolic-ref", "HEAD", `refs/heads/${branch}`]);
    return true;
  } catch (err) {
    throw gitError(err, `reading ${redactUrl(remote)}`, remote);
  }
}

/**
 * Every file in HEAD's tree (one `git ls-tree -r`, however many files), with its object id:
 * `each(path, oid)` is called in tree order, `path` being the raw bytes of the file's path (a
 * view into git's output, valid only during the call). The output is parsed as it arrives,
 * as bytes: 120,000 files make 17 MB of it, and as one string every name sliced from it
 * would keep all of it alive.
 */
export function treeFiles(dir: string, each: (path: Buffer, oid: string) => void): Promise<void> {
  const args = ["ls-tree", "-r", "-z", "--full-tree", "HEAD"];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, { cwd: dir, env: gitEnv() });
    const fail = (err: Error) => reject(gitError(err, `listing the files of ${dir}`, dir));
    // `<mode> SP <type> SP <object> TAB <path>`, NUL-terminated; `rest`: an entry cut by a chunk.
    let rest = Buffer.alloc(0);
    let broken: Error | undefined;
    child.stdout.on("data", (chunk: Buffer) => {
      const data = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
      let start = 0;
      try {
        for (let end = data.indexOf(0); end >= 0; start = end + 1, end = data.indexOf(0, start)) {
          const tab = data.indexOf(9, start);
          if (tab <= start || tab >= end) continue;
          const fields = data.toString("latin1", start, tab).split(" ");
          if (fields[1] === "blob" && fields[2] !== undefined) each(data.subarray(tab + 1, end), fields[2]);
        }
      } catch (err) {
        broken ??= err as Error;
        child.kill();
      }
      rest = Buffer.from(data.subarray(start));
    });
    let errors = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text: string) => {
      if (errors.length < 64 * 1024) errors += text;
    });
    child.on("error", fail);
    child.on("close", (code) => {
      debugLog?.(`git ${args.join(" ")} (${Date.now() - started} ms, in ${dir})`);
      if (broken !== undefined) reject(broken);
      else if (code !== 0) fail(new Error(errors || `git exited with ${String(code)}`));
      else {
        // The last entry may lack its NUL.
        const tab = rest.indexOf(9);
        const fields = tab > 0 ? rest.toString("latin1", 0, tab).split(" ") : [];
        if (fields[1] === "blob" && fields[2] !== undefined) each(rest.subarray(tab + 1), fields[2]);
        resolve();
      }
    });
  });
}

/**
 * One `git cat-file --batch` process reading blobs by id, in request order: a few thousand
 * reads cost one process, not one each.
 */
export class BlobReader {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: {
    resolve: (bytes: Buffer | undefined) => void;
    reject: (err: Error) => void;
    missingOk: boolean;
  }[] = [];
  private buffered: Buffer = Buffer.alloc(0);
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the answer at the front needs: chunks are joined once, not on every arrival. */
  private needed = 0;
  private failed: Error | undefined;
  /** Requests made in one tick go to git in one write, not one system call (and wake-up) each. */
  private corked = false;

  constructor(dir: string) {
    this.child = spawn("git", ["cat-file", "--batch"], { cwd: dir, env: gitEnv() });
    this.child.stdout.on("data", (chunk: Buffer) => {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.buffered.length + this.pendingBytes < this.needed) return;
      this.buffered = Buffer.concat([this.buffered, ...this.pending.splice(0)]);
      this.pendingBytes = 0;
      this.drain();
    });
    const fail = (err: Error) => {
      this.failed ??= err;
      for (const w of this.waiting.splice(0)) w.reject(err);
    };
    this.child.on("error", fail);
    this.child.on("close", () => fail(new Error("git cat-file stopped")));
    this.child.stderr.resume();
    this.child.stdin.on("error", fail);
  }

  /**
   * The blob's bytes (`object`: an object id or `<commit>:<path>`); rejects when the object is
   * missing or not a blob.
   */
  read(object: string): Promise<Buffer> {
    return this.request(object, false) as Promise<Buffer>;
  }

  /** Like read, but a missing object (or `<commit>:<path>` naming no file) is undefined. */
  readIfPresent(object: string): Promise<Buffer | undefined> {
    return this.request(object, true);
  }

  private request(object: string, missingOk: boolean): Promise<Buffer | undefined> {
    // One request per line: a name with a line break would be two requests.
    if (/[\n\0]/.test(object)) {
      return Promise.reject(new Error(`not an object name: ${JSON.stringify(object)}`));
    }
    if (this.failed !== undefined) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject, missingOk });
      if (!this.corked) {
        this.corked = true;
        this.child.stdin.cork();
        process.nextTick(() => {
          this.corked = false;
          this.child.stdin.uncork();
        });
      }
      this.child.stdin.write(`${object}\n`);
    });
  }

  private drain(): void {
    for (;;) {
      const next = this.waiting[0];
      const eol = this.buffered.indexOf(10);
      if (next === undefined || eol < 0) return;
      // `<object> SP <type> SP <size> LF <content> LF`, or `<name> SP missing LF` (or
      // `ambiguous`): the name may hold spaces (`<commit>:<path>`), the type and size never do.
      const line = this.buffered.subarray(0, eol).toString("latin1");
      const header = line.split(" ");
      if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})? [a-z]+ \d+$/.test(line)) {
        this.waiting.shift();
        this.buffered = this.buffered.subarray(eol + 1);
        if (next.missingOk && line.endsWith(" missing")) next.resolve(undefined);
        else next.reject(new Error(`git object ${header[0] ?? ""} is missing, not a file`));
        continue;
      }
      const size = Number(header[2]);
      if (this.buffered.length < eol + 1 + size + 1) {
        this.needed = eol + 1 + size + 1;
        return;
      }
      this.needed = 0;
      this.waiting.shift();
      // A tree or commit has content too: skip it with its object, or the next answer is misread.
      if (header[1] !== "blob") {
        this.buffered = this.buffered.subarray(eol + 1 + size + 1);
        next.reject(new Error(`git object ${header[0] ?? ""} is a ${header[1] ?? "?"}, not a file`));
        continue;
      }
      next.resolve(Buffer.from(this.buffered.subarray(eol + 1, eol + 1 + size)));
      this.buffered = this.buffered.subarray(eol + 1 + size + 1);
    }
  }

  close(): void {
    this.child.stdin.end();
  }
}

/** The commit HEAD points at, or undefined in a repository without commits. */
export async function headCommit(dir: string): Promise<string | undefined> {
  try {
    return (await git(dir).raw(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The commit a branch points at (in a bare repository too), or undefined when it has none. */
export async function branchCommit(dir: string, branch: string): Promise<string | undefined> {
  try {
    const ref = `refs/heads/${branch}^{commit}`;
    return (await git(dir).raw(["rev-parse", "--verify", "--quiet", ref])).trim() || undefined;
  } catch {
    return undefined;
  }
}

// Machines without a git identity (fresh CI runners, containers) can still commit.
async function ensureIdentity(g: SimpleGit): Promise<void> {
  const env = process.env;
  if (env.GIT_AUTHOR_EMAIL !== undefined && env.GIT_COMMITTER_EMAIL !== undefined) return;
  const email = await g.raw(["config", "--get", "user.email"]).catch(() => "");
  if (email.trim() !== "") return;
  await g.addConfig("user.name", "raas");
  await g.addConfig("user.email", "raas@localhost");
}

/** Stage everything and commit it; returns the new commit, or undefined when nothing changed. */
export async function commitAll(dir: string, message: string): Promise<string | undefined> {
  const g = git(dir);
  try {
    await g.raw(["add", "--all"]);
    const status = await g.raw(["status", "--porcelain"]);
    if (status.trim() === "") return undefined;
    await ensureIdentity(g);
    await g.raw(["commit", "--quiet", "--no-verify", "-m", message]);
  } catch (err) {
    throw gitError(err, `committing in ${dir}`, dir);
  }
  return headCommit(dir);
}

export interface PushOptions {
  branch: string;
  remote?: string;
}

/**
 * Push HEAD to `branch`, once. A remote that moved on meanwhile (another publish won the race)
 * is a GIT_PUSH_RACE UserError; commitAndPushRecomputing is the one place that retries it.
 */
export async function push(dir: string, options: PushOptions): Promise<void> {
  const remote = options.remote ?? "origin";
  const where = (await remoteUrl(dir, remote)) ?? remote;
  try {
    await git(dir).raw(["push", "--quiet", remote, `HEAD:refs/heads/${options.branch}`]);
  } catch (err) {
    if (!isNonFastForward(err)) throw gitError(err, `pushing to ${redactUrl(where)}`, where);
    throw new UserError(`pushing to ${redactUrl(where)}: the branch ${options.branch} moved on meanwhile`, {
      hint: "Another publish is running for this ISV; run the command again.",
      code: "GIT_PUSH_RACE",
      cause: err,
    });
  }
}

/**
 * Check `branch` of the bare repository `bareDir` out into `workTree`, the way the deploy hook
 * does: files removed from the branch disappear, local edits are overwritten.
 */
export async function checkoutInto(bareDir: string, branch: string, workTree: string): Promise<void> {
  await mkdir(workTree, { recursive: true });
  try {
    await git(bareDir).raw([`--work-tree=${workTree}`, "checkout", "--force", branch]);
  } catch (err) {
    throw gitError(err, `deploying ${branch} into ${workTree}`, bareDir);
  }
}

/** True when `branch` exists in the (bare or not) repository `dir`. */
export async function hasBranch(dir: string, branch: string): Promise<boolean> {
  return hasRef(git(dir), `refs/heads/${branch}`);
}

export interface RecomputingPushOptions {
  branch: string;
  message: string;
  /** Attempts in all before giving up on a remote that keeps moving. */
  attempts: number;
  /**
   * Bring the work tree to the state to commit, on top of the remote's newest commit when
   * `attempt` > 1 (the caller fetches and re-applies its change), and return its directory.
   */
  prepare: (attempt: number) => Promise<string>;
  /** Told before each new attempt, for --log debug. */
  onRace?: (attempt: number) => void;
}

/**
 * Commit and push; when another run pushed first, let the caller recompute its change on the
 * new state (not a textual rebase) and try again, with a growing, jittered pause.
 */
export async function commitAndPushRecomputing(
  options: RecomputingPushOptions,
): Promise<{ commit: string | undefined; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    const dir = await options.prepare(attempt);
    const commit = await commitAll(dir, options.message);
    if (commit === undefined) return { commit: undefined, attempts: attempt };
    try {
      await push(dir, { branch: options.branch });
      return { commit, attempts: attempt };
    } catch (error) {
      if (!(error instanceof UserError) || error.code !== "GIT_PUSH_RACE") throw error;
      if (attempt >= options.attempts) {
        throw new UserError(`${error.message}; gave up after ${attempt} attempts`, {
          ...(error.hint === undefined ? {} : { hint: error.hint }),
          code: "GIT_PUSH_RACE",
          cause: error,
        });
      }
      options.onRace?.(attempt);
      await sleep(100 * attempt * (0.5 + Math.random()));
    }
  }
}

/**
 * Every earlier version of the files under `sub` that a first-parent commit newer than `since`
 * replaced or removed: together with the files at HEAD, every state the branch was in since
 * `since` (garbage collection marks from all of them). Commit times are the committers' clocks.
 */
export async function versionsReplacedSince(
  dir: string,
  since: Date,
  sub: string,
  head = "HEAD",
): Promise<{ commit: string; path: string; text: string }[]> {
  const g = git(dir);
  const out: { commit: string; path: string; text: string }[] = [];
  try {
    if (head === "HEAD" && (await headCommit(dir)) === undefined) return out;
    const commits = (
      await g.raw([
        "rev-list",
        "--first-parent",
        `--since=${Math.floor(since.getTime() / 1000)}`,
        "--parents",
        head,
      ])
    )
      .split("\n")
      .map((line) => line.trim().split(" "))
      .filter((parts) => parts.length >= 2);
    for (const [commit, parent] of commits) {
      if (commit === undefined || parent === undefined) continue;
      // One raw diff per commit: `:<old mode> <new mode> <old blob> <new blob> <status>\t<path>`,
      // NUL-separated. A file the commit added (status A) has no earlier version; the others'
      // earlier text is read by its blob id. Not one `ls-tree` per file: a commit adding
      // 10,000 files would spawn 10,000 processes.
      const fields = (
        await g.raw(["diff-tree", "-r", "-z", "--raw", "--no-commit-id", parent, commit, "--", sub])
      ).split("\0");
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const [, , oldBlob, , status] = (fields[i] ?? "").split(" ");
        const file = fields[i + 1] ?? "";
        if (oldBlob === undefined || status === undefined || status.startsWith("A")) continue;
        if (/^0+$/.test(oldBlob)) continue;
        out.push({ commit, path: file, text: await g.raw(["cat-file", "blob", oldBlob]) });
      }
    }
  } catch (err) {
    throw gitError(err, `reading the history of ${dir}`, dir);
  }
  return out;
}
