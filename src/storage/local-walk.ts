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
  for (const { entry } of sorted) {
    const childRelative = relative === "" ? entry.name : `${relative}/${entry.name}`;
    const childPath = join(dir, entry.name);
    if (entry.isDirectory()) {
      yield* walk(childPath, childRelative, new Set());
    } else {
      const info = await stat(childPath).catch(() => undefined);
      // A file deleted while we walk is simply not listed.
      if (info !== undefined) yield { relative: childRelative, size: info.size, mtime: info.mtime };
    }
  }
}
