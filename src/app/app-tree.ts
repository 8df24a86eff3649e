/**
 * A read-only view of the app repository at its newest commit, for commands that only read
 * (`raas status`): cloned without a work tree, its file list read once from the commit's tree
 * and its files from git's objects through one `git cat-file` process. With 10,000 repositories
 * the app repository holds over 100,000 manifest files; a checkout would write every one of
 * them to disk before the first check.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { BlobReader, cloneWithoutCheckout, treeFiles, versionsReplacedSince } from "../adapters/git.js";
import { redactUrl } from "../adapters/git-errors.js";
import type { AppRepository } from "./app-repository.js";

interface Opened {
  dir: string;
  /** Directory -> its files' names (files are read by path from HEAD). */
  dirs: Map<string, Set<string>>;
  /** Directory -> its subdirectories' names. */
  subdirs: Map<string, Set<string>>;
  reader: BlobReader | undefined;
}

export class GitTreeAppRepository implements AppRepository {
  readonly remote: string;
  private opened: Promise<Opened> | undefined;
  private tmp: string | undefined;

  constructor(private readonly options: { remote: string; branch: string }) {
    this.remote = redactUrl(options.remote);
  }

  private open(): Promise<Opened> {
    this.opened ??= (async () => {
      this.tmp = await mkdtemp(path.join(tmpdir(), "raas-app-"));
      const dir = path.join(this.tmp, "repo");
      const dirs = new Map<string, Set<string>>();
      const subdirs = new Map<string, Set<string>>();
      if (!(await cloneWithoutCheckout(this.options.remote, dir, this.options.branch))) {
        return { dir, dirs, subdirs, reader: undefined };
      }
      const addDir = (name: string) => {
        for (let child = name; child !== "" && !subdirs.has(child);) {
          subdirs.set(child, new Set());
          const slash = child.lastIndexOf("/");
          const parent = slash < 0 ? "" : child.slice(0, slash);
          let siblings = subdirs.get(parent);
          if (siblings === undefined) subdirs.set(parent, (siblings = new Set()));
          siblings.add(child.slice(slash + 1));
          child = parent;
        }
      };
      for (const file of await treeFiles(dir)) {
        const slash = file.lastIndexOf("/");
        const parent = slash < 0 ? "" : file.slice(0, slash);
        let names = dirs.get(parent);
        if (names === undefined) {
          dirs.set(parent, (names = new Set()));
          addDir(parent);
        }
        names.add(file.slice(slash + 1));
      }
      return { dir, dirs, subdirs, reader: new BlobReader(dir) };
    })();
    return this.opened;
  }

  warm(): void {
    this.open().catch(() => undefined);
  }

  async read(file: string): Promise<string | undefined> {
    const { dirs, reader } = await this.open();
    const normal = path.posix.normalize(file);
    const slash = normal.lastIndexOf("/");
    const known = dirs.get(slash < 0 ? "" : normal.slice(0, slash))?.has(normal.slice(slash + 1)) === true;
    if (!known || reader === undefined) return undefined;
    return (await reader.read(`HEAD:${normal}`)).toString("utf8");
  }

  /** The files directly in `dir` (like readdir of a checkout, without subdirectories). */
  async list(dir: string): Promise<string[]> {
    const { dirs, subdirs } = await this.open();
    let normal = path.posix.normalize(dir).replace(/\/+$/, "");
    if (normal === ".") normal = "";
    // Subdirectories too, as readdir lists them (data/v1 inside data).
    return [...(dirs.get(normal)?.keys() ?? []), ...(subdirs.get(normal) ?? [])];
  }

  async replacedSince(since: Date, sub: string): Promise<{ commit: string; path: string; text: string }[]> {
    const { dir, reader } = await this.open();
    if (reader === undefined) return [];
    return versionsReplacedSince(dir, since, sub);
  }

  update(): Promise<{ commit: string | undefined; attempts: number }> {
    return Promise.reject(new Error("this view of the app repository is read-only"));
  }

  async close(): Promise<void> {
    const opened = await this.opened?.catch(() => undefined);
    opened?.reader?.close();
    if (this.tmp !== undefined) await rm(this.tmp, { recursive: true, force: true });
    this.tmp = undefined;
  }
}
