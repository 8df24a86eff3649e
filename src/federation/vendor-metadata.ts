import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { clone } from "../adapters/git.js";
import { parseMetadata } from "../crane/parse.js";
import { isHttpUrl } from "../crane/raas-extension.js";
import type { CraneV1 } from "../crane/types.js";
import { UserError } from "../errors.js";

/** A vendor ("Red Hat") Crane v1 metadata file: its ids are masked and its url hosts them. */
export interface VendorFile {
  /** File name, copied as `data/redhat/<name>` into the app repository. */
  name: string;
  /** Exact text, copied byte for byte. */
  text: string;
  meta: CraneV1;
  /** Where it was read from, for messages. */
  origin: string;
}

export interface VendorSources {
  /** The configuration directory (holding raas.cfg); its `redhat/metadata/*.json` are read. */
  confDir: string | undefined;
  /** `[redhat] metadata_repo`: a git repository holding more vendor files. */
  metadataRepo: string | undefined;
  /** `[redhat] metadata_relpath`: the directory inside metadata_repo (default: its root). */
  metadataRelpath: string | undefined;
}

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*\.json$/;

/**
 * Reads every vendor metadata file, in name order (so the first file listing an id, the one
 * whose url the registry redirects to, is always the same one). A file that is not Crane
 * version 1 with an http(s) url is a configuration error: silently skipping it would publish
 * images whose vendor layers nobody serves.
 */
export async function loadVendorFiles(sources: VendorSources): Promise<VendorFile[]> {
  const files: VendorFile[] = [];
  if (sources.confDir !== undefined) {
    files.push(...(await readDir(path.join(sources.confDir, "redhat", "metadata"))));
  }
  if (sources.metadataRepo !== undefined && sources.metadataRepo !== "") {
    const dir = await mkdtemp(path.join(tmpdir(), "raas-vendor-"));
    try {
      await clone(sources.metadataRepo, path.join(dir, "repo"), { depth: 1 });
      const rel = sources.metadataRelpath ?? "";
      const target = path.resolve(dir, "repo", rel);
      if (!target.startsWith(path.join(dir, "repo"))) {
        throw new UserError(`[redhat] metadata_relpath ${JSON.stringify(rel)} points outside the repository`);
      }
      files.push(...(await readDir(target, true)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const seen = new Map<string, string>();
  for (const file of files) {
    const other = seen.get(file.name);
    if (other !== undefined) {
      throw new UserError(`two vendor metadata files are named ${file.name}: ${other} and ${file.origin}`, {
        hint: "Rename one of them; both are copied into the app's data/redhat/ directory.",
      });
    }
    seen.set(file.name, file.origin);
  }
  return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function readDir(dir: string, mustExist = false): Promise<VendorFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && !mustExist) return [];
    throw new UserError(`cannot read vendor metadata directory ${dir}: ${(err as Error).message}`);
  }
  const out: VendorFile[] = [];
  for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
    const origin = path.join(dir, name);
    if (!NAME_RE.test(name)) throw new UserError(`vendor metadata file ${origin}: unsafe file name`);
    const text = await readFile(origin, "utf8");
    const meta = parseMetadata(text, origin);
    if (meta.version !== 1) {
      throw new UserError(
        `vendor metadata file ${origin} is Crane version ${meta.version}; vendor files are version 1`,
      );
    }
    if (!isHttpUrl(meta.url)) {
      throw new UserError(`vendor metadata file ${origin}: url ${JSON.stringify(meta.url)} is not http(s)`);
    }
    out.push({ name, text, meta, origin });
  }
  return out;
}

/** Crane's v1 redirect rule (FORMATS.md §2.3): `<url>/` joined with `<id>/<file>`. */
export function vendorFileUrl(meta: CraneV1, id: string, file: "ancestry" | "json" | "layer"): string {
  const base = meta.url.endsWith("/") ? meta.url : `${meta.url}/`;
  return new URL(`${id}/${file}`, base).toString();
}
