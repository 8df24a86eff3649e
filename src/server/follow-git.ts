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
/** A `cat-file --batch` header ("<oid> blob <size>") is never longer than this. */
const HEADER_MAX = 256;
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

  /**
   * Read blobs by id with one `cat-file --batch`: every request is written at once and each
   * object is handed to `onBlob` as soon as its bytes have arrived, so git decompresses while
   * the caller parses and only the object being received is held (never the whole answer).
   * `data` may be a view of a larger read buffer: a caller that keeps it must copy it.
   */
  async readBlobs(oids: string[], onBlob: (oid: string, data: Buffer) => void): Promise<void> {
    for (const oid of oids) checked(oid);
    if (oids.length === 0) return;
    await new Promise<void>((resolve, reject) => {
      const child = spawn("git", ["cat-file", "--batch"], {
        cwd: this.options.dir,
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let failed: Error | undefined;
      let err = "";
      let received = 0;
      // Bytes not yet consumed, and the object whose content they start with (once its header was read).
      const parts: Buffer[] = [];
      let partsSize = 0;
      let object: { oid: string; length: number } | undefined;
      const fail = (error: Error) => {
        failed ??= error;
        child.kill();
      };
      const consume = (data: Buffer): number => {
        let at = 0;
        for (;;) {
          if (object === undefined) {
            // "<oid> blob <size>\n<content>\n" per object, or "<oid> missing\n".
            const eol = data.indexOf(10, at);
            if (eol < 0) {
              if (data.length - at > HEADER_MAX) throw new Error("git cat-file answered a malformed header");
              return at;
            }
            const [oid = "", type = "", size = ""] = data.toString("utf8", at, eol).split(" ");
            if (type === "missing") throw new Error(`object ${oid} is missing from the followed repository`);
            const length = Number(size);
            if (!Number.isSafeInteger(length) || length < 0 || length > MAX_OUTPUT) {
              throw new Error(`object ${oid} of the followed repository is too large`);
            }
            object = { oid, length };
            at = eol + 1;
          }
          if (data.length - at < object.length + 1) return at;
          onBlob(object.oid, data.subarray(at, at + object.length));
          at += object.length + 1;
          object = undefined;
          received++;
        }
      };
      child.stdout.on("data", (chunk: Buffer) => {
        if (failed !== undefined) return;
        parts.push(chunk);
        partsSize += chunk.length;
        // A large object arrives in many chunks: join them once, when it is complete.
        if (object !== undefined && partsSize < object.length + 1) return;
        const data = parts.length === 1 ? chunk : Buffer.concat(parts, partsSize);
        parts.length = 0;
        partsSize = 0;
        try {
          const at = consume(data);
          if (at < data.length) {
            parts.push(data.subarray(at));
            partsSize = data.length - at;
          }
        } catch (error) {
          fail(error instanceof Error ? error : new Error(String(error)));
        }
      });
      child.stderr.on("data", (chunk: Buffer) => {
        if (err.length < 4096) err += chunk.toString("utf8");
      });
      child.on("error", reject);
      child.on("close", (code) => {
        if (failed !== undefined) return reject(failed);
        if (code !== 0) {
          return reject(new Error(`git cat-file failed: ${hideCredentials(err) || `exit ${code}`}`));
        }
        if (received !== oids.length || partsSize > 0) {
          return reject(new Error("git cat-file ended before answering every object"));
        }
        resolve();
      });
      child.stdin.on("error", () => undefined);
      child.stdin.end(oids.join("\n") + "\n");
    });
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
