/**
 * Files other processes read while we write them: the registry polls data/ in a checkout, and
 * Crane-style loaders watch a directory's mtime. The one way raas replaces such a file.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import * as path from "node:path";

/** Resolve `rel` inside `root`, refusing absolute paths and `..` escapes. */
export function inside(root: string, rel: string): string {
  const base = path.resolve(root);
  const full = path.resolve(base, rel);
  if (path.isAbsolute(rel) || !full.startsWith(base + path.sep)) {
    throw new Error(`path ${JSON.stringify(rel)} escapes ${root}`);
  }
  return full;
}

export interface AtomicWriteOptions {
  /** Flush the bytes to disk before the rename, so a crash cannot leave an empty file behind. */
  durable?: boolean;
  /** Permission bits of the new file (default 0644); a rewrite passes the old file's, so a 0600 file stays 0600. */
  mode?: number;
}

/**
 * Write through a temp file in the same directory and rename it into place: readers never see
 * a half-written file, and a watcher of the directory's mtime notices the rename (it misses
 * in-place writes). The temp name is hidden and does not end in `.json`, so loaders ignore it
 * meanwhile; it is removed when the write fails. The directory must exist.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const temp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`,
  );
  try {
    const handle = await open(temp, "wx", options.mode ?? 0o644);
    try {
      // open() applies the umask; an explicit mode is kept exactly (it is the old file's).
      if (options.mode !== undefined) await handle.chmod(options.mode);
      await handle.writeFile(data);
      if (options.durable === true) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/**
 * writeFileAtomic at `rel` inside `root` (refusing escapes, creating folders). Returns false,
 * leaving the file untouched (timestamp included), when it already holds exactly `data`.
 */
export async function writeFileInside(
  root: string,
  rel: string,
  data: string | Uint8Array,
): Promise<boolean> {
  const file = inside(root, rel);
  const current = await readFile(file).catch(() => undefined);
  if (current?.equals(typeof data === "string" ? Buffer.from(data) : data)) return false;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, data);
  return true;
}
