import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AppRepository, RepoFiles } from "./app-repository.js";
import type { Reporter } from "../ui/reporter.js";
import { inside, writeFileInside } from "../adapters/files.js";
import {
  commitAndPushRecomputing,
  ensureClone,
  isGitRepo,
  refreshObjectCache,
  versionsReplacedSince,
} from "../adapters/git.js";
import { redactUrl } from "../adapters/git-errors.js";

export interface GitAppRepositoryOptions {
  remote: string;
  branch: string;
  reporter: Reporter;
  /** Attempts when other publishes keep winning the race to push. */
  attempts?: number;
  /**
   * A directory for a local cache of the remote's objects (kept across runs, under the state
   * directory): each run's clone then fetches only what is new instead of the whole history.
   */
  objectCache?: string;
}

/**
 * The app repository through a private clone per run, so any number of raas processes can
 * publish to one ISV at once: each starts from the remote's newest commit, and when another
 * run pushed first, the change is recomputed on top of the new state (not textually rebased).
 */
export class GitAppRepository implements AppRepository {
  readonly remote: string;
  private dir: string | undefined;
  private initial: Promise<string> | undefined;
  /** The first checkout is still unused by a commit: the first update may try it as it is. */
  private fresh = false;

  constructor(private readonly options: GitAppRepositoryOptions) {
    this.remote = redactUrl(options.remote);
  }

  private async checkout(): Promise<string> {
    const dir = this.dir ?? path.join(await mkdtemp(path.join(tmpdir(), "raas-app-")), "repo");
    this.dir = dir;
    const { remote, branch, objectCache } = this.options;
    const reference =
      objectCache !== undefined &&
      !(await isGitRepo(dir)) &&
      (await refreshObjectCache(remote, objectCache, branch))
        ? objectCache
        : undefined;
    try {
      await ensureClone(remote, dir, { branch, ...(reference === undefined ? {} : { reference }) });
    } catch (err) {
      if (reference === undefined) throw err;
      // A damaged cache must not stop a publish: clone as if there were none.
      this.options.reporter.debug(`cloning with the object cache ${reference} failed; cloning without it`);
      await rm(dir, { recursive: true, force: true });
      await ensureClone(remote, dir, { branch });
    }
    return dir;
  }

  /** One shared first checkout, however many reads ask for it at once. */
  private firstCheckout(): Promise<string> {
    this.initial ??= this.checkout().then((dir) => {
      this.fresh = true;
      return dir;
    });
    return this.initial;
  }

  /** Start cloning now (while the caller reads its input); errors surface on the next read or update. */
  warm(): void {
    this.firstCheckout().catch(() => undefined);
  }

  async read(file: string): Promise<string | undefined> {
    return readInside(await this.firstCheckout(), file);
  }

  async list(sub: string): Promise<string[]> {
    const dir = await this.firstCheckout();
    return readdir(inside(dir, sub)).catch(() => []);
  }

  async replacedSince(since: Date, sub: string): Promise<{ commit: string; path: string; text: string }[]> {
    const dir = await this.firstCheckout();
    inside(dir, sub);
    return versionsReplacedSince(dir, since, sub);
  }

  async update(
    message: string,
    change: (files: RepoFiles) => Promise<void>,
  ): Promise<{ commit: string | undefined; attempts: number }> {
    return commitAndPushRecomputing({
      branch: this.options.branch,
      message,
      attempts: this.options.attempts ?? 8,
      prepare: async (attempt) => {
        // Optimistic: the first attempt commits on the checkout made at the start of the run;
        // if the remote moved meanwhile the push is refused and the next attempt starts fresh.
        const dir = attempt === 1 && this.fresh ? await this.firstCheckout() : await this.checkout();
        this.fresh = false;
        await change({
          read: (file) => readInside(dir, file),
          write: async (file, data) => {
            await writeFileInside(dir, file, data);
          },
          remove: (file) => rm(inside(dir, file), { force: true }),
        });
        return dir;
      },
      onRace: (attempt) =>
        this.options.reporter.debug(
          `push to ${this.remote} lost a race (attempt ${attempt}); recomputing on the new state`,
        ),
    });
  }

  async close(): Promise<void> {
    // A background clone still writing would outlive the removal of its directory.
    await this.initial?.catch(() => undefined);
    if (this.dir !== undefined) await rm(path.dirname(this.dir), { recursive: true, force: true });
    this.dir = undefined;
  }
}

async function readInside(dir: string, file: string): Promise<string | undefined> {
  try {
    return await readFile(inside(dir, file), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
