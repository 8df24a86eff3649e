import { readdir, stat } from "node:fs/promises";
import type { Stats } from "node:fs";
import { join } from "node:path";

export interface WalkedEntry {
  /** Absolute (or dir-joined) path. */
  path: string;
  /** Path relative to the walked root, `/`-separated; the sort key. */
  rel: string;
  stats: Stats;
}

export interface WalkResult {
  files: WalkedEntry[];
  dirs: WalkedEntry[];
  /** Problems met on the way (unreadable dirs, dangling links), for the log. */
  problems: string[];
}

/**
 * Walk a tree like Crane's `os.walk(data_dir, followlinks=True)`, but in a deterministic order
 * (entries sorted by name) and without looping forever on a symlink cycle: a directory already
 * visited (same device and inode) is not entered again.
 */
export async function walkTree(root: string): Promise<WalkResult> {
  const result: WalkResult = { files: [], dirs: [], problems: [] };
  const seen = new Set<string>();
  async function visit(dir: string, rel: string, stats: Stats): Promise<void> {
    const id = `${stats.dev}:${stats.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    result.dirs.push({ path: dir, rel, stats });
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      result.problems.push(`cannot read directory ${dir}: ${(err as Error).message}`);
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      const childRel = rel === "" ? name : `${rel}/${name}`;
      let child: Stats;
      try {
        child = await stat(path);
      } catch (err) {
        result.problems.push(`cannot stat ${path}: ${(err as Error).message}`);
        continue;
      }
      if (child.isDirectory()) await visit(path, childRel, child);
      else if (child.isFile()) result.files.push({ path, rel: childRel, stats: child });
    }
  }
  let rootStats: Stats;
  try {
    rootStats = await stat(root);
  } catch (err) {
    result.problems.push(`cannot read directory ${root}: ${(err as Error).message}`);
    return result;
  }
  if (!rootStats.isDirectory()) {
    result.problems.push(`${root} is not a directory`);
    return result;
  }
  await visit(root, "", rootStats);
  result.files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return result;
}

/**
 * A change fingerprint over every file and directory: path, size, mtime and inode. Crane only
 * compares directory mtimes, so it misses a file rewritten in place; this does not.
 */
export function fingerprint(walk: WalkResult): string {
  const parts = [...walk.dirs, ...walk.files].map(
    (e) =>
      `${e.rel}\0${e.stats.size}\0${e.stats.mtimeMs}\0${e.stats.ino}\0${e.stats.isDirectory() ? "d" : "f"}`,
  );
  return parts.sort().join("\n") + `\n${walk.problems.join("\n")}`;
}
