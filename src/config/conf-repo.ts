/**
 * The configuration repository's part in a run: the run log appended to
 * `<isv>/logs/<YYYY-MM-DD>.log`, push's metadata backed up under `<isv>/metadata/`, and at the
 * end everything that changed in the clone (also files other modules wrote there) committed
 * as `<isv> <action> <app> update by raas` and pushed.
 *
 * Concurrent runs: when the push is rejected, the clone is reset to the remote's newest commit
 * and our changes are applied again on top — log lines appended to whatever the log holds now,
 * other files written with our content — so two runs both land and no log line is lost.
 */
import { createHash } from "node:crypto";
import { appendFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { commitAndPushRecomputing, ensureClone } from "../adapters/git.js";
import { isSafeSegment } from "../crane/parse.js";

export interface ConfRepo {
  url: string;
  branch: string;
  dir: string;
}

type Snapshot = Map<string, string>;

async function snapshot(root: string, rel = ""): Promise<Snapshot> {
  const out: Snapshot = new Map();
  for (const entry of await readdir(path.join(root, rel), { withFileTypes: true })) {
    const child = rel === "" ? entry.name : `${rel}/${entry.name}`;
    if (child === ".git") continue;
    if (entry.isDirectory()) for (const [k, v] of await snapshot(root, child)) out.set(k, v);
    else if (entry.isFile()) {
      out.set(
        child,
        createHash("sha256")
          .update(await readFile(path.join(root, child)))
          .digest("hex"),
      );
    }
  }
  return out;
}

export interface ConfRepoSessionOptions {
  isv: string;
  action: string;
  /** The image or repository the run was about, for the commit message. */
  app?: string;
  now?: () => Date;
  log?: (line: string) => void;
}

export class ConfRepoSession {
  private readonly before: Promise<Snapshot>;
  private readonly backups = new Map<string, string>();
  private readonly now: () => Date;

  constructor(
    readonly repo: ConfRepo,
    private readonly options: ConfRepoSessionOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    // Taken first thing, so files other modules write into the clone later count as changes.
    this.before = snapshot(repo.dir);
  }

  /** Resolves once the starting state of the clone is recorded; await it before anything writes there. */
  async ready(): Promise<void> {
    await this.before;
  }

  get logFile(): string {
    return `${this.options.isv}/logs/${this.now().toISOString().slice(0, 10)}.log`;
  }

  /** Back up a published metadata file (`data/<name>.json` in the app repository). */
  backupMetadata(file: string, content: string): void {
    const name = file.slice(file.lastIndexOf("/") + 1);
    if (!isSafeSegment(name) || !name.endsWith(".json")) {
      throw new Error(`refusing to back up metadata under the name ${JSON.stringify(name)}`);
    }
    this.backups.set(`${this.options.isv}/metadata/${name}`, content);
  }

  /**
   * Write the log lines and backups, commit everything that changed and push (unless
   * `commit` is false: then the clone is left as it is and discarded with it).
   * Returns the commit pushed, or undefined.
   */
  async finish(lines: readonly string[], commit: boolean): Promise<string | undefined> {
    if (!commit) return undefined;
    const { dir, url, branch } = this.repo;
    const before = await this.before;
    const logFile = this.logFile;
    const text = lines.length === 0 ? "" : `${lines.join("\n")}\n`;
    await this.writeOurs(text, logFile, new Map());
    // Other modules' changes, captured as content so they can be re-applied after a reset.
    const after = await snapshot(dir);
    const others = new Map<string, Buffer | undefined>();
    for (const [file, hash] of after) {
      if (file !== logFile && !this.backups.has(file) && before.get(file) !== hash) {
        others.set(file, await readFile(path.join(dir, file)));
      }
    }
    for (const file of before.keys()) if (!after.has(file)) others.set(file, undefined);
    const action = [this.options.isv, this.options.action, this.options.app].filter((p) => p !== undefined);
    const message = `${action.join(" ")} update by raas`;
    const result = await commitAndPushRecomputing({
      branch,
      message,
      attempts: 8,
      prepare: async (attempt) => {
        if (attempt > 1) {
          await ensureClone(url, dir, { branch });
          await this.writeOurs(text, logFile, others);
        }
        return dir;
      },
      onRace: (attempt) =>
        this.options.log?.(`config repository moved on (attempt ${attempt}); re-applying this run's changes`),
    });
    return result.commit;
  }

  private async writeOurs(
    text: string,
    logFile: string,
    others: Map<string, Buffer | undefined>,
  ): Promise<void> {
    const { dir } = this.repo;
    const put = async (file: string, data: string | Buffer) => {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), data);
    };
    if (text !== "") {
      await mkdir(path.dirname(path.join(dir, logFile)), { recursive: true });
      await appendFile(path.join(dir, logFile), text);
    }
    for (const [file, content] of this.backups) await put(file, content);
    for (const [file, content] of others) {
      if (content === undefined) await rm(path.join(dir, file), { force: true });
      else await put(file, content);
    }
  }
}
