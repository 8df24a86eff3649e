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
import {
  BlobReader,
  cloneWithoutCheckout,
  headCommit,
  treeFiles,
  versionsReplacedSince,
} from "../adapters/git.js";
import { redactUrl } from "../adapters/git-errors.js";
import type { AppRepository } from "./app-repository.js";

interface Opened {
  dir: string;
  /**
   * Directory -> its files' names, each with the position of its object id in `oids`. Files are
   * read by object id: git resolves `HEAD:<path>` by scanning each folder on the way, so
   * reading every file of a folder of 10,000 by path costs 10,000 x 10,000 comparisons.
   */
  dirs: Map<string, Map<string, number>>;
  /** The files' object ids, binary, `width` bytes each (20, or 32 in a SHA-256 repository). */
  oids: Buffer;
  width: number;
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
      const dirs = new Map<string, Map<string, number>>();
      const subdirs = new Map<string, Set<string>>();
      if (!(await cloneWithoutCheckout(this.options.remote, dir, this.options.branch))) {
        return { dir, dirs, subdirs, oids: Buffer.alloc(0), width: 0, reader: undefined };
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
      let oids = Buffer.alloc(0);
      let width = 0;
      let count = 0;
      await treeFiles(dir, (file, oid) => {
        width ||= oid.length / 2;
        if ((count + 1) * width > oids.length) {
          const grown = Buffer.alloc(Math.max(1024, oids.length * 2));
          oids.copy(grown);
          oids = grown;
        }
        oids.write(oid, count * width, width, "hex");
        const slash = file.lastIndexOf("/");
        const parent = slash < 0 ? "" : file.slice(0, slash);
        let names = dirs.get(parent);
        if (names === undefined) {
          dirs.set(parent, (names = new Map<string, number>()));
          addDir(parent);
        }
        names.set(file.slice(slash + 1), count++);
      });
      return { dir, dirs, subdirs, oids, width, reader: new BlobReader(dir) };
    })();
    return this.opened;
  }

  async head(): Promise<string | undefined> {
    const { dir, reader } = await this.open();
    return reader === undefined ? undefined : headCommit(dir);
  }

  warm(): void {
    this.open().catch(() => undefined);
  }

  async read(file: string): Promise<string | undefined> {
    const { dirs, oids, width, reader } = await this.open();
    const normal = path.posix.normalize(file);
    const slash = normal.lastIndexOf("/");
    const at = dirs.get(slash < 0 ? "" : normal.slice(0, slash))?.get(normal.slice(slash + 1));
    if (at === undefined || reader === undefined) return undefined;
    return (await reader.read(oids.toString("hex", at * width, (at + 1) * width))).toString("utf8");
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
