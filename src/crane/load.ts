import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { errorMessage } from "../errors.js";
import { parseMetadata } from "./parse.js";
import { pythonJson } from "./python-json.js";
import type { CraneV1, CraneV2, CraneV3, CraneV4 } from "./types.js";
import { walkTree, type WalkResult } from "./walk.js";

export interface V1Repo {
  meta: CraneV1;
  /** The file it came from, relative to the data dir. */
  file: string;
  /** Bodies Crane serves for `/images` and `/tags`, pre-rendered once per load. */
  imagesJson: string;
  tagsJson: string;
}

export interface V2Repo {
  meta: CraneV2 | CraneV3 | CraneV4;
  file: string;
}

export interface MetadataIndex {
  /** Version 1 files, by `repo-registry-id`. */
  v1: Map<string, V1Repo>;
  /** Version 2, 3 and 4 files, by `repo-registry-id`. */
  v2: Map<string, V2Repo>;
  /**
   * Global v1 image index: image id -> repo ids, in data-dir file order (sorted relative paths).
   * The first entry that is allowed wins, which makes Crane's arbitrary frozenset choice deterministic.
   */
  images: Map<string, string[]>;
  /** Files loaded, relative to the data dir, in load order. */
  files: string[];
  /** The walk the index was built from (for change detection). */
  walk: WalkResult;
}

export type LogFn = (message: string) => void;

/**
 * Load every `*.json` file under `dir` (recursively, following links) like Crane's `load_all`.
 * A bad file is skipped with `skipping <file>: <reason>`; loading continues. Files are read in
 * sorted path order, so when two files define the same name in one namespace the later path
 * wins every time (Crane's winner depended on `os.walk` order).
 */
export async function loadMetadataDir(dir: string, log: LogFn): Promise<MetadataIndex> {
  const walk = await walkTree(dir);
  for (const problem of walk.problems) log(problem);
  const index: MetadataIndex = { v1: new Map(), v2: new Map(), images: new Map(), files: [], walk };
  for (const entry of walk.files) {
    if (!basename(entry.rel).endsWith(".json")) continue;
    let text: string;
    try {
      text = await readFile(entry.path, "utf8");
    } catch (err) {
      log(`skipping ${entry.rel}: ${errorMessage(err)}`);
      continue;
    }
    let meta;
    try {
      meta = parseMetadata(text, entry.rel);
    } catch (err) {
      log(`skipping ${errorMessage(err)}`);
      continue;
    }
    const name = meta["repo-registry-id"];
    const namespace = meta.version === 1 ? index.v1 : index.v2;
    const previous = namespace.get(name);
    if (previous !== undefined) log(`${entry.rel}: repository ${name} overrides the one in ${previous.file}`);
    if (meta.version === 1) {
      index.v1.set(name, {
        meta,
        file: entry.rel,
        imagesJson: pythonJson(meta.images),
        tagsJson: pythonJson(meta.tags),
      });
      for (const image of meta.images) {
        const repos = index.images.get(image.id) ?? [];
        if (!repos.includes(name)) repos.push(name);
        index.images.set(image.id, repos);
      }
    } else {
      index.v2.set(name, { meta, file: entry.rel });
    }
    index.files.push(entry.rel);
  }
  return index;
}
