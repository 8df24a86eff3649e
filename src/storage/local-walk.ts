import { readdirSync, statSync, type Dirent } from "node:fs";
import { join } from "node:path";

export interface WalkedFile {
  /** `/`-separated path relative to the walk's start. */
  relative: string;
  size: number;
  mtime: Date;
}

/**
 * Filesystem calls made between two turns of the event loop. The walk uses the synchronous
 * calls (a stat through the thread pool costs several times the CPU of the stat itself, and
 * a listing of 300,000 objects is 300,000 of them) but yields this often, so a server listing
 * its storage keeps answering; one folder's entries are read in one call.
 */
const CALLS_PER_TURN = 256;

interface Folder {
  dir: string;
  relative: string;
  entries: { name: string; folder: boolean }[];
  next: number;
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
  // One generator and an explicit stack, not a generator per folder level: each object would
  // otherwise pass through every level above it.
  const stack: Folder[] = [];
  const first = readFolder(start, "", skipTopLevel);
  if (first !== undefined) stack.push(first);
  let calls = 0;
  const turn = async () => {
    if (++calls % CALLS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
  };
  for (;;) {
    const folder = stack[stack.length - 1];
    if (folder === undefined) return;
    const entry = folder.entries[folder.next++];
    if (entry === undefined) {
      stack.pop();
      continue;
    }
    const relative = folder.relative === "" ? entry.name : `${folder.relative}/${entry.name}`;
    const path = join(folder.dir, entry.name);
    await turn();
    if (entry.folder) {
      const child = readFolder(path, relative, NOTHING);
      if (child !== undefined) stack.push(child);
      continue;
    }
    let info;
    try {
      info = statSync(path, { throwIfNoEntry: false });
    } catch {
      info = undefined;
    }
    // A file deleted while we walk is simply not listed.
    if (info !== undefined) yield { relative, size: info.size, mtime: info.mtime };
  }
}

const NOTHING: ReadonlySet<string> = new Set();

/** A folder's files and subfolders in S3 key order; undefined when it is gone. */
function readFolder(dir: string, relative: string, skip: ReadonlySet<string>): Folder | undefined {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
  // Sorting the names of one folder is not enough for S3 order: "a-b" sorts before "a/b" because
  // "-" < "/", so sort by the full key, treating a folder "a" as "a/".
  const sorted = entries
    .filter((entry) => !skip.has(entry.name) && (entry.isFile() || entry.isDirectory()))
    .map((entry) => ({
      name: entry.name,
      folder: entry.isDirectory(),
      sortKey: entry.isDirectory() ? `${entry.name}/` : entry.name,
    }))
    .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0))
    .map(({ name, folder }) => ({ name, folder }));
  return { dir, relative, entries: sorted, next: 0 };
}
