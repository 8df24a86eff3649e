import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
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

/**
 * Write through a temp file and a rename, so a reader (the registry polling data/) never sees
 * half a file, and a new file appears as a directory change it notices. Returns false when
 * the file already had exactly this content and was left untouched.
 */
export async function writeFileAtomic(root: string, rel: string, data: string | Buffer): Promise<boolean> {
  const file = inside(root, rel);
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  const current = await readFile(file).catch(() => undefined);
  if (current?.equals(bytes)) return false;
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.raas-${process.pid}.tmp`;
  await writeFile(temp, bytes);
  await rename(temp, file);
  return true;
}
