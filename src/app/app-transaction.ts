import { mkdtemp, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AppRepository, RepoFiles } from "./app-repository.js";
import type { Reporter } from "../ui/reporter.js";
import { UserError, errorMessage } from "../errors.js";
import { BlobReader, versionsReplacedSince } from "../adapters/git.js";
import {
  commitChanges,
  fetchBranchHead,
  listAt,
  openKeptRepository,
  packLooseObjects,
  pushCommit,
  remoteBranchHead,
  repoPath,
} from "../adapters/git-kept.js";
import { redactUrl } from "../adapters/git-errors.js";

export interface GitAppRepositoryOptions {
  remote: string;
  branch: string;
  reporter: Reporter;
  /** Attempts when other publishes keep winning the race to push. */
  attempts?: number;
  /**
   * The kept bare copy of the remote (under the state directory, shared by every run for this
   * app repository): each run fetches only what is new into it, reads and commits there.
   * Without one (or when it cannot be used) a run fetches into a temporary copy.
   */
  objectCache?: string;
  /** Loose objects the kept copy may hold before a run that committed packs them (default 1,000). */
  packAbove?: number;
}

interface Head {
  /** The bare repository holding the commit. */
  dir: string;
  /** The branch's newest commit, or undefined for a remote without the branch yet. */
  commit: string | undefined;
}

/**
 * The app repository through a kept bare copy (adapters/git-kept.ts): no clone and no work
 * tree per run, so a publish costs what it changes however large the repository and its
 * history are. Any number of raas processes can publish to one ISV at once: each starts from
 * the remote's newest commit, and when another run pushed first, the change is recomputed on
 * top of the new state (not textually rebased).
 */
export class GitAppRepository implements AppRepository {
  readonly remote: string;
  private kept: Promise<{ dir: string; temp?: string }> | undefined;
  private initial: Promise<Head> | undefined;
  private reader: BlobReader | undefined;
  /** The first head is still unused by a commit: the first update may try it as it is. */
  private fresh = false;
  /** A commit of this run was pushed from the kept copy. */
  private pushed = false;

  constructor(private readonly options: GitAppRepositoryOptions) {
    this.remote = redactUrl(options.remote);
  }

  private async temporary(): Promise<{ dir: string; temp: string }> {
    const temp = await mkdtemp(path.join(tmpdir(), "raas-app-"));
    const dir = path.join(temp, "repo.git");
    await openKeptRepository(dir);
    return { dir, temp };
  }

  /** The remote's newest commit, present in the kept copy. */
  private async fetchHead(): Promise<Head> {
    const { objectCache } = this.options;
    this.kept ??= (async () => {
      if (objectCache === undefined) return this.temporary();
      try {
        await openKeptRepository(objectCache);
        return { dir: objectCache };
      } catch (err) {
        this.options.reporter.debug(`the copy ${objectCache} cannot be used (${errorMessage(err)})`);
        return this.temporary();
      }
    })();
    const kept = await this.kept;
    try {
      return { dir: kept.dir, commit: await this.fetchInto(kept.dir) };
    } catch (err) {
      // A damaged copy must not stop a publish: fetch into a temporary one instead.
      if (kept.temp !== undefined) throw err;
      this.options.reporter.debug(
        `the copy ${kept.dir} cannot be used (${errorMessage(err)}); fetching anew`,
      );
      const temp = this.temporary();
      this.kept = temp;
      this.reader?.close();
      this.reader = undefined;
      const { dir } = await temp;
      return { dir, commit: await this.fetchInto(dir) };
    }
  }

  /** ls-remote, then fetch unless `dir` holds the head; again when the branch was force-moved meanwhile. */
  private async fetchInto(dir: string): Promise<string | undefined> {
    const { remote, branch } = this.options;
    for (let tries = 1; ; tries++) {
      const commit = await remoteBranchHead(dir, remote, branch);
      if (commit === undefined) return undefined;
      try {
        await fetchBranchHead(dir, remote, branch, commit);
        return commit;
      } catch (err) {
        if (tries >= 3 || !(err instanceof UserError) || err.code !== "GIT_PUSH_RACE") throw err;
      }
    }
  }

  /** One shared first head, however many reads ask for it at once. */
  private first(): Promise<Head> {
    this.initial ??= this.fetchHead().then((head) => {
      this.fresh = true;
      return head;
    });
    return this.initial;
  }

  private async readAt(head: Head, file: string): Promise<string | undefined> {
    const where = repoPath(file);
    if (head.commit === undefined) return undefined;
    this.reader ??= new BlobReader(head.dir);
    return (await this.reader.readIfPresent(`${head.commit}:${where}`))?.toString("utf8");
  }

  /** Start fetching now (while the caller reads its input); errors surface on the next read or update. */
  warm(): void {
    this.first().catch(() => undefined);
  }

  async head(): Promise<string | undefined> {
    return (await this.first()).commit;
  }

  async read(file: string): Promise<string | undefined> {
    return this.readAt(await this.first(), file);
  }

  async list(sub: string): Promise<string[]> {
    const head = await this.first();
    return head.commit === undefined ? [] : listAt(head.dir, head.commit, sub);
  }

  async replacedSince(since: Date, sub: string): Promise<{ commit: string; path: string; text: string }[]> {
    const head = await this.first();
    repoPath(sub);
    return head.commit === undefined ? [] : versionsReplacedSince(head.dir, since, sub, head.commit);
  }

  async update(
    message: string,
    change: (files: RepoFiles) => Promise<void>,
  ): Promise<{ commit: string | undefined; attempts: number }> {
    const attempts = this.options.attempts ?? 8;
    for (let attempt = 1; ; attempt++) {
      // Optimistic: the first attempt commits on the head read at the start of the run; if the
      // remote moved meanwhile the push is refused and the next attempt starts from its new head.
      const head = attempt === 1 && this.fresh ? await this.first() : await this.fetchHead();
      this.fresh = false;
      const changed = new Map<string, Buffer | undefined>();
      await change({
        read: async (file) => {
          const where = repoPath(file);
          return changed.has(where) ? changed.get(where)?.toString("utf8") : this.readAt(head, where);
        },
        // A bad path rejects (the executor's throw), as a failed file write would.
        write: (file, data) =>
          new Promise<void>((resolve) => {
            changed.set(repoPath(file), Buffer.from(data));
            resolve();
          }),
        remove: (file) =>
          new Promise<void>((resolve) => {
            changed.set(repoPath(file), undefined);
            resolve();
          }),
      });
      const changes = [...changed].map(([file, data]) => ({ path: file, data }));
      const commit = await commitChanges(head.dir, head.commit, changes, message);
      // Reads after an update see what it committed (push's metadata backup reads them), and the
      // next update starts from there.
      if (commit === undefined) {
        this.initial = Promise.resolve(head);
        return { commit: undefined, attempts: attempt };
      }
      try {
        await pushCommit(head.dir, this.options.remote, commit, this.options.branch);
        this.pushed = true;
        this.initial = Promise.resolve({ dir: head.dir, commit });
        this.fresh = true;
        return { commit, attempts: attempt };
      } catch (error) {
        if (!(error instanceof UserError) || error.code !== "GIT_PUSH_RACE") throw error;
        if (attempt >= attempts) {
          throw new UserError(`${error.message}; gave up after ${attempt} attempts`, {
            ...(error.hint === undefined ? {} : { hint: error.hint }),
            code: "GIT_PUSH_RACE",
            cause: error,
          });
        }
        this.options.reporter.debug(
          `push to ${this.remote} lost a race (attempt ${attempt}); recomputing on the new state`,
        );
        await sleep(100 * attempt * (0.5 + Math.random()));
      }
    }
  }

  async close(): Promise<void> {
    // A background fetch still writing would outlive the removal of its directory.
    await this.initial?.catch(() => undefined);
    this.reader?.close();
    this.reader = undefined;
    const kept = await this.kept?.catch(() => undefined);
    if (kept?.temp !== undefined) await rm(kept.temp, { recursive: true, force: true });
    else if (kept !== undefined && this.pushed) {
      // Housekeeping after the publish, never a reason for it to fail.
      await packLooseObjects(kept.dir, this.options.packAbove ?? 1000).catch((err: unknown) =>
        this.options.reporter.debug(`packing ${kept.dir}: ${errorMessage(err)}`),
      );
    }
    this.pushed = false;
    this.kept = undefined;
    this.initial = undefined;
  }
}
