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

/** One metadata file read and parsed (or the reason it was skipped), ready to assemble. */
export type ParsedFile =
  | { rel: string; repo: { version: 1; entry: V1Repo } | { version: 2 | 3 | 4; entry: V2Repo } }
  | { rel: string; problem: string };

/** Parse one file's text; a bad file becomes a problem line, exactly as a full load logs it. */
export function parseMetadataFile(rel: string, text: string): ParsedFile {
  let meta;
  try {
    meta = parseMetadata(text, rel);
  } catch (err) {
    return { rel, problem: `skipping ${errorMessage(err)}` };
  }
  if (meta.version === 1) {
    const entry = { meta, file: rel, imagesJson: pythonJson(meta.images), tagsJson: pythonJson(meta.tags) };
    return { rel, repo: { version: 1, entry } };
  }
  return { rel, repo: { version: meta.version, entry: { meta, file: rel } } };
}

/** Only `*.json` files are metadata (case-sensitive, as Crane's `endswith`). */
export const isMetadataFile = (rel: string): boolean => basename(rel).endsWith(".json");

/**
 * Build the index from parsed files in sorted path order: the later path wins a name, and every
 * problem and override is logged, as a load from scratch does. Cheap (no reading, no parsing),
 * so an incremental load re-parses what changed and assembles the whole again.
 */
export function assembleIndex(parsed: Iterable<ParsedFile>, log: LogFn, walk: WalkResult): MetadataIndex {
  const index: MetadataIndex = { v1: new Map(), v2: new Map(), images: new Map(), files: [], walk };
  for (const file of parsed) {
    if ("problem" in file) {
      log(file.problem);
      continue;
    }
    const { repo } = file;
    const name = repo.entry.meta["repo-registry-id"];
    const namespace = repo.version === 1 ? index.v1 : index.v2;
    const previous = namespace.get(name);
    if (previous !== undefined) log(`${file.rel}: repository ${name} overrides the one in ${previous.file}`);
    if (repo.version === 1) {
      index.v1.set(name, repo.entry);
      for (const image of repo.entry.meta.images) {
        const repos = index.images.get(image.id) ?? [];
        if (!repos.includes(name)) repos.push(name);
        index.images.set(image.id, repos);
      }
    } else {
      index.v2.set(name, repo.entry);
    }
    index.files.push(file.rel);
  }
  return index;
}

/**
 * Load every `*.json` file under `dir` (recursively, following links) like Crane's `load_all`.
 * A bad file is skipped with `skipping <file>: <reason>`; loading continues. Files are read in
 * sorted path order, so when two files define the same name in one namespace the later path
 * wins every time (Crane's winner depended on `os.walk` order).
 */
export async function loadMetadataDir(dir: string, log: LogFn): Promise<MetadataIndex> {
  const walk = await walkTree(dir);
  for (const problem of walk.problems) log(problem);
  const parsed: ParsedFile[] = [];
  for (const entry of walk.files) {
    if (!isMetadataFile(entry.rel)) continue;
    let text: string;
    try {
      text = await readFile(entry.path, "utf8");
    } catch (err) {
      parsed.push({ rel: entry.rel, problem: `skipping ${entry.rel}: ${errorMessage(err)}` });
      continue;
    }
    parsed.push(parseMetadataFile(entry.rel, text));
  }
  return assembleIndex(parsed, log, walk);
}
