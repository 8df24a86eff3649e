/**
 * The registry's MetadataCommitPort: a working clone of the app repository kept by this
 * process, fetched and reset to the remote branch before every batch, committed with the
 * pushing identities as authors and pushed; when another writer pushed first, the batch is
 * recomputed on the new state (like the CLI's commitAndPushRecomputing). The server may not
 * reach the CLI's git adapter (simple-git is a CLI-only package), so git runs here directly,
 * with argument arrays, never a shell.
 *
 * Group commit: requests that arrive while a batch is being committed wait for the next one,
 * which takes all of them (up to MAX_BATCH): one fetch, each change run in turn on the state the
 * previous ones left, one commit per author, and one push. A caller's promise resolves only once
 * the push containing its change succeeded. A change that throws is rolled back alone (the
 * working tree returns to what the changes before it staged) and only its caller gets the error.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CommitAuthor, MetadataCommitPort, MetadataFiles } from "../publish/metadata-commit.js";

export interface GitMetadataOptions {
  /** URL or path of the app repository's remote. */
  remote: string;
  branch: string;
  /** Directory for the working clone (created when missing). */
  cloneDir: string;
  attempts?: number;
}

/** Changes committed together at most; later arrivals wait for the next batch. */
export const MAX_BATCH = 64;

const REGISTRY_AUTHOR: CommitAuthor = { name: "raas registry", email: "registry@raas.invalid" };

class GitRaceError extends Error {}

type Result = { commit: string | undefined; attempts: number };

interface PendingChange {
  kind: "change";
  message: string;
  change: (files: MetadataFiles) => Promise<void>;
  author: CommitAuthor;
  resolve: (result: Result) => void;
  reject: (err: unknown) => void;
}

interface PendingRead {
  kind: "read";
  path: string;
  resolve: (text: string | undefined) => void;
  reject: (err: unknown) => void;
}

/** What the batches of this process did (tests and metrics read it). */
export interface GroupCommitStats {
  batches: number;
  commits: number;
  pushes: number;
  changes: number;
}

function run(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      "git",
      args,
      {
        cwd,
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
        maxBuffer: 16 * 1024 * 1024,
        timeout: 120_000,
      },
      (err, stdout, stderr) => {
        if (err === null) return resolvePromise(stdout);
        const text = `${stderr}`;
        // Another writer moved the branch first: rejected as non-fast-forward, or, when both
        // pushes reach the remote at once, its ref lock ("cannot lock ref ... but expected").
        if (/\[rejected\]|non-fast-forward|fetch first|cannot lock ref|\[remote rejected\]/.test(text)) {
          return reject(new GitRaceError(text));
        }
        // Remote URLs may carry credentials: name the command, not its arguments.
        reject(new Error(`git ${args[0] ?? ""} failed: ${text.replace(/\/\/[^@/\s]*@/g, "//***@").trim()}`));
      },
    );
  });
}

function inside(root: string, file: string): string {
  const full = resolve(root, file);
  const rel = relative(root, full);
  if (rel === "" || rel.startsWith("..") || rel.startsWith(sep) || rel.split(sep).includes(".git")) {
    throw new Error(`refusing to touch ${JSON.stringify(file)} outside the app repository`);
  }
  return full;
}

/** The message of one commit holding several changes: the first, a count, and each in the body. */
export function groupMessage(messages: readonly string[]): string {
  if (messages.length === 1) return messages[0] ?? "";
  return `${messages[0] ?? ""} and ${messages.length - 1} more\n\n${messages.join("\n")}`;
}

export class GitMetadataRepository implements MetadataCommitPort {
  private waiting: (PendingChange | PendingRead)[] = [];
  private running = false;
  readonly stats: GroupCommitStats = { batches: 0, commits: 0, pushes: 0, changes: 0 };

  constructor(private readonly options: GitMetadataOptions) {}

  private async sync(): Promise<string> {
    const dir = this.options.cloneDir;
    const isClone = (await stat(join(dir, ".git")).catch(() => undefined)) !== undefined;
    if (!isClone) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dirname(dir), { recursive: true });
      await run(dirname(dir), ["clone", "--quiet", "--no-checkout", this.options.remote, dir]);
    }
    await run(dir, [
      "fetch",
      "--quiet",
      "origin",
      `+refs/heads/${this.options.branch}:refs/remotes/origin/${this.options.branch}`,
    ]);
    await run(dir, [
      "checkout",
      "--quiet",
      "--force",
      "-B",
      this.options.branch,
      `origin/${this.options.branch}`,
    ]);
    await run(dir, ["clean", "--quiet", "-fdx"]);
    return dir;
  }

  read(path: string): Promise<string | undefined> {
    return new Promise((resolvePromise, reject) => {
      this.enqueue({ kind: "read", path, resolve: resolvePromise, reject });
    });
  }

  update(
    message: string,
    change: (files: MetadataFiles) => Promise<void>,
    author?: CommitAuthor,
  ): Promise<Result> {
    return new Promise((resolvePromise, reject) => {
      this.enqueue({
        kind: "change",
        message,
        change,
        author: author ?? REGISTRY_AUTHOR,
        resolve: resolvePromise,
        reject,
      });
    });
  }

  private enqueue(item: PendingChange | PendingRead): void {
    this.waiting.push(item);
    if (this.running) return;
    this.running = true;
    void this.drain();
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_BATCH);
      const reads = batch.filter((b): b is PendingRead => b.kind === "read");
      const changes = batch.filter((b): b is PendingChange => b.kind === "change");
      try {
        await this.batch(reads, changes);
      } catch (err) {
        // Settling twice is a no-op: only those not yet answered get the error.
        for (const item of batch) item.reject(err);
      }
    }
    this.running = false;
  }

  private async batch(reads: PendingRead[], changes: PendingChange[]): Promise<void> {
    this.stats.batches += 1;
    const attempts = this.options.attempts ?? 8;
    // One commit per author, in order of each author's first change (the author line of every
    // commit is then the identity that made each change in it).
    const byAuthor = new Map<string, PendingChange[]>();
    for (const c of changes) {
      const key = `${c.author.name}\u0000${c.author.email}`;
      byAuthor.set(key, [...(byAuthor.get(key) ?? []), c]);
    }
    let live = changes;
    for (let attempt = 1; ; attempt++) {
      const dir = await this.sync();
      for (const r of reads.splice(0)) {
        await readIn(dir, r.path).then(r.resolve, r.reject);
      }
      if (live.length === 0) return;
      const committed = new Map<PendingChange, string | undefined>();
      let commits = 0;
      for (const group of byAuthor.values()) {
        const mine = group.filter((c) => live.includes(c));
        const changed: PendingChange[] = [];
        let tree = (await run(dir, ["write-tree"])).trim();
        for (const c of mine) {
          try {
            await c.change(filesIn(dir));
            await run(dir, ["add", "--all"]);
          } catch (err) {
            // Roll this change back alone: the working tree returns to what is staged.
            await run(dir, ["checkout-index", "--all", "--force"]);
            await run(dir, ["clean", "--quiet", "-fdx"]);
            live = live.filter((l) => l !== c);
            c.reject(err);
            continue;
          }
          const after = (await run(dir, ["write-tree"])).trim();
          if (after === tree) {
            committed.set(c, undefined);
          } else {
            changed.push(c);
            tree = after;
          }
        }
        if (changed.length === 0) continue;
        const who = changed[0]!.author;
        await run(dir, [
          "-c",
          `user.name=${who.name}`,
          "-c",
          `user.email=${who.email}`,
          "commit",
          "--quiet",
          "--no-verify",
          `--author=${who.name} <${who.email}>`,
          "-m",
          groupMessage(changed.map((c) => c.message)),
        ]);
        commits += 1;
        const commit = (await run(dir, ["rev-parse", "HEAD"])).trim();
        for (const c of changed) committed.set(c, commit);
      }
      if (commits > 0) {
        try {
          await run(dir, ["push", "--quiet", "origin", `HEAD:refs/heads/${this.options.branch}`]);
        } catch (err) {
          if (!(err instanceof GitRaceError) || attempt >= attempts) throw err;
          // Another writer pushed first: recompute every change still standing on its state.
          await sleep(100 * attempt * (0.5 + Math.random()));
          continue;
        }
        this.stats.pushes += 1;
        this.stats.commits += commits;
      }
      this.stats.changes += committed.size;
      for (const [c, commit] of committed) c.resolve({ commit, attempts: attempt });
      return;
    }
  }
}

function filesIn(dir: string): MetadataFiles {
  return {
    read: (file) => readIn(dir, file),
    write: async (file, data) => {
      const full = inside(dir, file);
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, data);
    },
    remove: async (file) => {
      await rm(inside(dir, file), { force: true });
    },
  };
}

async function readIn(dir: string, file: string): Promise<string | undefined> {
  try {
    return await readFile(inside(dir, file), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
