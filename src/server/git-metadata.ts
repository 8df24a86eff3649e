/**
 * The registry's MetadataCommitPort: a working clone of the app repository kept by this
 * process, fetched and reset to the remote branch before every transaction, committed with the
 * pushing identity as author and pushed; when another writer pushed first, the change is
 * recomputed on the new state (like the CLI's commitAndPushRecomputing). The server may not
 * reach the CLI's git adapter (simple-git is a CLI-only package), so git runs here directly,
 * with argument arrays, never a shell. Transactions of one process are serialized.
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

class GitRaceError extends Error {}

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

export class GitMetadataRepository implements MetadataCommitPort {
  private queue: Promise<unknown> = Promise.resolve();

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
    return this.serial(async () => readIn(await this.sync(), path));
  }

  update(
    message: string,
    change: (files: MetadataFiles) => Promise<void>,
    author?: CommitAuthor,
  ): Promise<{ commit: string | undefined; attempts: number }> {
    return this.serial(() => this.transaction(message, change, author));
  }

  private async transaction(
    message: string,
    change: (files: MetadataFiles) => Promise<void>,
    author: CommitAuthor | undefined,
  ): Promise<{ commit: string | undefined; attempts: number }> {
    const attempts = this.options.attempts ?? 8;
    for (let attempt = 1; ; attempt++) {
      const dir = await this.sync();
      await change({
        read: (file) => readIn(dir, file),
        write: async (file, data) => {
          const full = inside(dir, file);
          await mkdir(dirname(full), { recursive: true });
          await writeFile(full, data);
        },
      });
      await run(dir, ["add", "--all"]);
      if ((await run(dir, ["status", "--porcelain"])).trim() === "") {
        return { commit: undefined, attempts: attempt };
      }
      const who = author ?? { name: "raas registry", email: "registry@raas.invalid" };
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
        message,
      ]);
      const commit = (await run(dir, ["rev-parse", "HEAD"])).trim();
      try {
        await run(dir, ["push", "--quiet", "origin", `HEAD:refs/heads/${this.options.branch}`]);
        return { commit, attempts: attempt };
      } catch (err) {
        if (!(err instanceof GitRaceError) || attempt >= attempts) throw err;
        await sleep(100 * attempt * (0.5 + Math.random()));
      }
    }
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task, task);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

async function readIn(dir: string, file: string): Promise<string | undefined> {
  try {
    return await readFile(inside(dir, file), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
