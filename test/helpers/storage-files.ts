import { readdir } from "node:fs/promises";
import { join, relative } from "node:path";

/**
 * The files a local store holds that publications write, relative to `dir` and sorted: what a
 * refused push must leave exactly as it was. The registry process writes state of its own into
 * the same store at any time (pull statistics and events under `.raas/`, upload sessions under
 * `.raas-uploads/`, with their metadata sidecars under `.meta/.raas/` and `.meta/.raas-uploads/`);
 * that is not a publication and is left out. A missing `dir` is empty.
 */
export async function publishedFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const full = join(d, entry.name);
      const top = d === dir || d === join(dir, ".meta");
      if (top && (entry.name === ".raas" || entry.name === ".raas-uploads")) continue;
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) out.push(relative(dir, full));
    }
  };
  await walk(dir);
  return out.sort();
}
