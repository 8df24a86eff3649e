import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";

export interface WalkedFile {
  /** `/`-separated path relative to the walk's start. */
  relative: string;
  size: number;
  mtime: Date;
}

/**
 * Regular files under `start`, depth first, in byte order of their relative paths (the order S3
 * lists keys in). Symbolic links are not followed: the store never creates any, and following
 * one could leave the root. A missing start folder is simply empty.
 */
export async function* walkFiles(
  start: string,
  skipTopLevel: ReadonlySet<string>,
): AsyncGenerator<WalkedFile> {
  yield* walk(start, "", skipTopLevel);
}

async function* walk(dir: string, relative: string, skip: ReadonlySet<string>): AsyncGenerator<WalkedFile> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return;
    throw err;
  }
  // Sorting the names of one folder is not enough for S3 order: "a-b" sorts before "a/b" because
  // "-" < "/", so sort by the full key, treating a folder "a" as "a/".
  const sorted = entries
    .filter((entry) => !skip.has(entry.name) && (entry.isFile() || entry.isDirectory()))
    .map((entry) => ({ entry, sortKey: entry.isDirectory() ? `${entry.name}/` : entry.name }))
    .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
  // The files of a folder are stat'ed a batch at a time, not one after another: a listing of
  // 100,000 objects is otherwise 100,000 sequential round trips to the filesystem.
  let files: string[] = [];
  const flush = async function* (): AsyncGenerator<WalkedFile> {
    const infos = await Promise.all(files.map((name) => stat(join(dir, name)).catch(() => undefined)));
    for (const [n, name] of files.entries()) {
      const info = infos[n];
      // A file deleted while we walk is simply not listed.
      if (info !== undefined) {
        yield {
          relative: relative === "" ? name : `${relative}/${name}`,
          size: info.size,
          mtime: info.mtime,
        };
      }
    }
    files = [];
  };
  for (const { entry } of sorted) {
    if (entry.isDirectory()) {
      yield* flush();
      const childRelative = relative === "" ? entry.name : `${relative}/${entry.name}`;
      yield* walk(join(dir, entry.name), childRelative, new Set());
    } else {
      files.push(entry.name);
      if (files.length === STAT_BATCH) yield* flush();
    }
  }
  yield* flush();
}

const STAT_BATCH = 64;
