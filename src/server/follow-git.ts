/**
 * The registry's own copy of the app repository in follow mode (`[metadata] follow`): a bare
 * repository that only ever fetches the followed branch into `refs/raas/follow`. Metadata is
 * read at a commit (ls-tree, diff-tree, cat-file --batch), never from a checkout, so a load
 * never sees a half-updated tree, and what changed between two commits comes from git instead
 * of a walk over every file. git runs with argument arrays, never a shell; remote URLs may
 * carry credentials, so errors name the command, never its arguments.
 */
import { spawn } from "node:child_process";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join } from "node:path";

/** Where the followed branch is kept in the local repository. */
const FOLLOW_REF = "refs/raas/follow";
/** A git answer larger than this is not metadata (ls-tree of a million paths is ~100 MB). */
const MAX_OUTPUT = 1024 * 1024 * 1024;
/** Objects asked of one `cat-file --batch`: its whole answer is held at once. */
const BLOB_BATCH = 2000;
const COMMIT_RE = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

export interface FollowOptions {
  /** URL or path of the app repository. */
  remote: string;
  branch: string;
  /** The local bare repository (created when missing). */
  dir: string;
}

/** A blob at a path of the commit (`oid`), or a path the commit no longer has (`oid` undefined). */
export interface PathState {
  path: string;
  oid: string | undefined;
}

function hideCredentials(text: string): string {
  return text.replace(/\/\/[^@/\s]*@/g, "//***@").trim();
}

function git(cwd: string, args: string[], input?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, {
      cwd,
      env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    let size = 0;
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT) child.kill();
      else out.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      if (err.length < 4096) err += chunk.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0 && size <= MAX_OUTPUT) return resolve(Buffer.concat(out));
      const why = size > MAX_OUTPUT ? "its output is too large" : hideCredentials(err) || `exit ${code}`;
      reject(new Error(`git ${args[0] === "-c" ? (args[2] ?? "") : (args[0] ?? "")} failed: ${why}`));
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(input ?? "");
  });
}

/** Only regular files are metadata; links, submodules and trees are not read. */
const isBlobMode = (mode: string) => mode === "100644" || mode === "100755";

export class FollowRepository {
  private ready: Promise<void> | undefined;

  constructor(private readonly options: FollowOptions) {}

  get dir(): string {
    return this.options.dir;
  }

  private ensure(): Promise<void> {
    this.ready ??= (async () => {
      const exists = await stat(this.options.dir).catch(() => undefined);
      if (exists !== undefined) {
        // git runs a repository's hooks and config (core.fsmonitor, reference-transaction): a
        // copy someone else planted, say in a shared temp dir, must never be used.
        const uid = process.getuid?.();
        if (uid !== undefined && exists.uid !== uid) {
          throw new Error(
            `${this.options.dir} belongs to another user; set [metadata] follow_dir to a directory of this server's`,
          );
        }
        if ((await stat(join(this.options.dir, "HEAD")).catch(() => undefined)) !== undefined) return;
      }
      await mkdir(dirname(this.options.dir), { recursive: true });
      await git(dirname(this.options.dir), ["init", "--quiet", "--bare", this.options.dir]);
      // A repository on this machine lends its objects (like `git clone --local`): a fetch then
      // finds every object present and transfers nothing, so a first start does not copy the
      // whole history. Only the followed ref lives here.
      const objects = await localObjects(this.options.remote);
      if (objects !== undefined) {
        await writeFile(join(this.options.dir, "objects", "info", "alternates"), `${objects}\n`);
      }
    })().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  /** The commit the local copy holds, or undefined before the first fetch. */
  async localHead(): Promise<string | undefined> {
    await this.ensure();
    const out = await git(this.options.dir, [
      "rev-parse",
      "--verify",
      "--quiet",
      `${FOLLOW_REF}^{commit}`,
    ]).catch(() => undefined);
    const sha = out?.toString("utf8").trim();
    return sha !== undefined && COMMIT_RE.test(sha) ? sha : undefined;
  }

  /**
   * Bring the local copy to the remote branch and return its commit. The idle cost is one
   * `ls-remote` (the remote's ref advertisement); objects are fetched only when the branch moved.
   */
  async update(): Promise<string> {
    await this.ensure();
    const local = await this.localHead();
    const listed = await git(this.options.dir, [
      "ls-remote",
      "--",
      this.options.remote,
      `refs/heads/${this.options.branch}`,
    ]);
    const remote = listed.toString("utf8").split("\t")[0]?.trim() ?? "";
    if (remote === "") {
      throw new Error(`the followed repository has no branch ${this.options.branch}`);
    }
    if (remote === local) return local;
    await git(this.options.dir, [
      "fetch",
      "--quiet",
      "--no-tags",
      "--no-write-fetch-head",
      "--",
      this.options.remote,
      `+refs/heads/${this.options.branch}:${FOLLOW_REF}`,
    ]);
    const head = await this.localHead();
    if (head === undefined) throw new Error(`fetching ${this.options.branch} left no commit`);
    return head;
  }

  /** Every regular file under `paths` at `commit`. */
  async listTree(commit: string, paths: string[]): Promise<PathState[]> {
    const out = await git(this.options.dir, [
      "ls-tree",
      "-r",
      "-z",
      "--full-tree",
      checked(commit),
      "--",
      ...paths,
    ]);
    const entries: PathState[] = [];
    for (const record of out.toString("utf8").split("\0")) {
      // "<mode> <type> <oid>\t<path>"
      const tab = record.indexOf("\t");
      if (tab < 0) continue;
      const [mode = "", type = "", oid = ""] = record.slice(0, tab).split(" ");
      if (type === "blob" && isBlobMode(mode)) entries.push({ path: record.slice(tab + 1), oid });
    }
    return entries;
  }

  /** What differs under `paths` between two commits: each path with its blob at `to`. */
  async diff(from: string, to: string, paths: string[]): Promise<PathState[]> {
    const out = await git(this.options.dir, [
      "diff-tree",
      "-r",
      "-z",
      "--no-renames",
      "--no-commit-id",
      checked(from),
      checked(to),
      "--",
      ...paths,
    ]);
    // ":<old mode> <new mode> <old oid> <new oid> <status>\0<path>\0"
    const parts = out.toString("utf8").split("\0");
    const changes: PathState[] = [];
    for (let i = 0; i + 1 < parts.length; i += 2) {
      const head = parts[i] ?? "";
      const path = parts[i + 1] ?? "";
      const [, newMode = "", , newOid = ""] = head.slice(1).split(" ");
      changes.push({ path, oid: isBlobMode(newMode) ? newOid : undefined });
    }
    return changes;
  }

  /** Read blobs by id with `cat-file --batch`, a bounded batch at a time (peak memory). */
  async readBlobs(oids: string[], onBlob: (oid: string, data: Buffer) => void): Promise<void> {
    for (let i = 0; i < oids.length; i += BLOB_BATCH) {
      await this.readBatch(oids.slice(i, i + BLOB_BATCH), onBlob);
    }
  }

  private async readBatch(oids: string[], onBlob: (oid: string, data: Buffer) => void): Promise<void> {
    for (const oid of oids) checked(oid);
    const out = await git(this.options.dir, ["cat-file", "--batch"], oids.join("\n") + "\n");
    // "<oid> blob <size>\n<content>\n" per object, or "<oid> missing\n".
    let at = 0;
    while (at < out.length) {
      const eol = out.indexOf(10, at);
      if (eol < 0) break;
      const [oid = "", type = "", size = ""] = out.toString("utf8", at, eol).split(" ");
      at = eol + 1;
      if (type === "missing") throw new Error(`object ${oid} is missing from the followed repository`);
      const length = Number(size);
      // A copy: the slice would keep the whole answer alive as long as one file is cached.
      onBlob(oid, Buffer.from(out.subarray(at, at + length)));
      at += length + 1;
    }
  }
}

/** The objects directory of `remote` when it is a repository on this machine (bare or not). */
async function localObjects(remote: string): Promise<string | undefined> {
  if (!isAbsolute(remote)) return undefined;
  for (const candidate of [join(remote, "objects"), join(remote, ".git", "objects")]) {
    const info = await stat(candidate).catch(() => undefined);
    if (info?.isDirectory() === true) return candidate;
  }
  return undefined;
}

function checked(oid: string): string {
  if (!COMMIT_RE.test(oid)) throw new Error(`not an object id: ${JSON.stringify(oid.slice(0, 80))}`);
  return oid;
}
