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

/**
 * The commit's files, kept as bytes: every path in one buffer, in byte order (git's tree order
 * is the byte order of full paths), each with its object id. Files are read by object id: git
 * resolves `HEAD:<path>` by scanning each folder on the way, so reading every file of a folder
 * of 10,000 by path costs 10,000 x 10,000 comparisons. A folder's files are a run of paths
 * found by binary search. 120,000 files (10,000 repositories) take 14 MB here, outside the
 * JavaScript heap; as a map of name strings they took 32 MB of it.
 */
class TreeIndex {
  constructor(
    /** Every path, back to back. */
    private readonly paths: Buffer,
    /** Where each path starts in `paths`; one more entry, its end. */
    private readonly starts: Uint32Array,
    /** The files' object ids, binary, `width` bytes each (20, or 32 in a SHA-256 repository). */
    private readonly oids: Buffer,
    private readonly width: number,
  ) {}

  static empty(): TreeIndex {
    return new TreeIndex(Buffer.alloc(0), new Uint32Array(1), Buffer.alloc(0), 0);
  }

  get count(): number {
    return this.starts.length - 1;
  }

  /** The object id of the file at `path`, or undefined. */
  oid(path: string): string | undefined {
    const target = Buffer.from(path, "utf8");
    const at = this.lowerBound(target);
    if (at >= this.count || this.compareAt(at, target) !== 0) return undefined;
    return this.oids.toString("hex", at * this.width, (at + 1) * this.width);
  }

  /** The files directly in `dir` ("" for the top), then its subfolders, each named once. */
  list(dir: string): string[] {
    const prefix = Buffer.from(dir === "" ? "" : `${dir}/`, "utf8");
    const files: string[] = [];
    const folders: string[] = [];
    for (let at = this.lowerBound(prefix); at < this.count; at++) {
      const start = (this.starts[at] as number) + prefix.length;
      const end = this.starts[at + 1] as number;
      if (this.compareAt(at, prefix, prefix.length) !== 0) break;
      const slash = this.paths.indexOf(0x2f, start);
      if (slash < 0 || slash >= end) {
        files.push(this.paths.toString("utf8", start, end));
      } else {
        const folder = this.paths.toString("utf8", start, slash);
        if (folders[folders.length - 1] !== folder) folders.push(folder);
      }
    }
    return [...files, ...folders];
  }

  /** The first path not below `target` in byte order. */
  private lowerBound(target: Buffer): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.compareAt(mid, target) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Path `at` (its first `length` bytes, if given) against `target`, in byte order. */
  private compareAt(at: number, target: Buffer, length?: number): number {
    const start = this.starts[at] as number;
    const end = this.starts[at + 1] as number;
    return this.paths.compare(
      target,
      0,
      target.length,
      start,
      length === undefined ? end : Math.min(end, start + length),
    );
  }

  /**
   * Build from the commit's paths (`paths` back to back, path i from `starts[i]` to
   * `starts[i + 1]`) and object ids, in any order: sorted here unless they come sorted.
   */
  static build(paths: Buffer, starts: number[], oids: Buffer, width: number): TreeIndex {
    const count = starts.length - 1;
    const at = (i: number) => paths.subarray(starts[i], starts[i + 1]);
    let sorted = true;
    for (let i = 1; i < count && sorted; i++) sorted = Buffer.compare(at(i - 1), at(i)) < 0;
    if (sorted) return new TreeIndex(paths, Uint32Array.from(starts), oids, width);
    const order = Array.from({ length: count }, (_, i) => i).sort((x, y) => Buffer.compare(at(x), at(y)));
    const ordered = Buffer.allocUnsafe(starts[count] as number);
    const orderedStarts = new Uint32Array(count + 1);
    const orderedOids = Buffer.allocUnsafe(count * width);
    let total = 0;
    for (const [n, i] of order.entries()) {
      orderedStarts[n] = total;
      total += at(i).copy(ordered, total);
      oids.copy(orderedOids, n * width, i * width, (i + 1) * width);
    }
    orderedStarts[count] = total;
    return new TreeIndex(ordered, orderedStarts, orderedOids, width);
  }
}

interface Opened {
  dir: string;
  tree: TreeIndex;
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
      if (!(await cloneWithoutCheckout(this.options.remote, dir, this.options.branch))) {
        return { dir, tree: TreeIndex.empty(), reader: undefined };
      }
      // Grown by doubling, then trimmed: a buffer per path would cost its own object each.
      let paths: Buffer = Buffer.alloc(0);
      const starts = [0];
      let oids: Buffer = Buffer.alloc(0);
      let width = 0;
      const grow = (buffer: Buffer, needed: number): Buffer => {
        if (needed <= buffer.length) return buffer;
        const grown = Buffer.alloc(Math.max(4096, needed, buffer.length * 2));
        buffer.copy(grown);
        return grown;
      };
      await treeFiles(dir, (file, oid) => {
        width ||= oid.length / 2;
        const count = starts.length - 1;
        oids = grow(oids, (count + 1) * width);
        oids.write(oid, count * width, width, "hex");
        const used = starts[count] as number;
        paths = grow(paths, used + file.length);
        starts.push(used + file.copy(paths, used));
      });
      const count = starts.length - 1;
      const tree = TreeIndex.build(
        Buffer.from(paths.subarray(0, starts[count])),
        starts,
        Buffer.from(oids.subarray(0, count * width)),
        width,
      );
      return { dir, tree, reader: new BlobReader(dir) };
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
    return (await this.readBytes(file))?.toString("utf8");
  }

  async readBytes(file: string): Promise<Buffer | undefined> {
    const { tree, reader } = await this.open();
    const oid = reader === undefined ? undefined : tree.oid(path.posix.normalize(file));
    if (oid === undefined || reader === undefined) return undefined;
    return reader.read(oid);
  }

  /** The files directly in `dir` (like readdir of a checkout, without subdirectories). */
  async list(dir: string): Promise<string[]> {
    const { tree } = await this.open();
    let normal = path.posix.normalize(dir).replace(/\/+$/, "");
    if (normal === ".") normal = "";
    // Subdirectories too, as readdir lists them (data/v1 inside data).
    return tree.list(normal);
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
