import { InputError } from "../errors.js";
import { isTag, repositoryNameProblem, tagProblem } from "../image/names.js";
import { emptyRecord } from "../image/records.js";
import { isV1Id, type V1Image, type V1Repository } from "../image/v1.js";
import { checkChains, parseAncestry, v1Identity } from "../image/v1-chain.js";
import { parseDocument } from "./json.js";
import { PulpRepoFile, V1ImageJson, type PulpRepo } from "./schemas.js";
import { CONFIG_LIMIT, MANIFEST_LIMIT } from "./oci-blobs.js";
import { checkCount, LIMITS } from "./limits.js";
import type { TarIndex, TarMember } from "./tar-index.js";
import { ignored } from "./refs.js";
import type { ReadResult, TarReader } from "./types.js";

const FILES = ["ancestry", "json", "layer"] as const;
const ANCESTRY_LIMIT = 1024 * 1024;

/**
 * A Pulp 2 export (`docker_distributor_export`, FORMATS.md §4.4): `<repo_id>.json` (Crane v1
 * metadata) and `web/<image_id>/{ancestry,json,layer}`, `layer` being gzip. Pulp wrote it with
 * `tarfile(dereference=True)`, so a link in it was not written by Pulp and is refused. Older
 * exports used `<repo_id>/` where newer ones use `web/`; both are read.
 */
export async function readPulpExport(archive: TarIndex): Promise<ReadResult> {
  const path = archive.path;
  const members = archive.members();
  for (const m of members) {
    if (m.type === "symlink" || m.type === "hardlink") {
      throw new InputError(
        path,
        `member "${m.name}" is a ${m.type}; a Pulp export holds only files and directories`,
      );
    }
  }
  const metadataFiles = members.filter((m) => m.type === "file" && /^[^/]+\.json$/.test(m.name));
  if (metadataFiles.length !== 1) {
    throw new InputError(
      path,
      `a Pulp export has exactly one <repo_id>.json at the top; found ${metadataFiles.length}`,
    );
  }
  const metadataName = (metadataFiles[0] as TarMember).name;
  const repoId = metadataName.slice(0, -".json".length);
  const base = members.some((m) => m.name === "web" || m.name.startsWith("web/")) ? "web" : repoId;

  // Every member must have its place; anything else means this is not what Pulp wrote.
  const byImage = new Map<string, Map<string, TarMember>>();
  for (const m of members) {
    if (m.name === "" || m.name === metadataName || (m.name === base && m.type === "directory")) continue;
    const parts = m.name.split("/");
    const [top, id, file] = parts;
    if (top !== base || id === undefined || parts.length > 3) {
      throw new InputError(
        path,
        `unexpected member "${m.name}" in a Pulp export (only ${base}/<image id>/{ancestry,json,layer})`,
      );
    }
    if (!isV1Id(id)) {
      throw new InputError(path, `"${base}/${id}" is not named by an image id (64 lower-case hex digits)`);
    }
    const files = byImage.get(id) ?? new Map<string, TarMember>();
    byImage.set(id, files);
    if (file === undefined) {
      if (m.type !== "directory") throw new InputError(path, `"${m.name}" should be a directory`);
      continue;
    }
    if (!(FILES as readonly string[]).includes(file) || m.type !== "file") {
      throw new InputError(
        path,
        `unexpected member "${m.name}" (an image directory holds ancestry, json and layer)`,
      );
    }
    files.set(file, m);
  }

  const meta = parseDocument(
    PulpRepoFile,
    await archive.readMember(metadataName, MANIFEST_LIMIT),
    path,
    metadataName,
  );
  const listed = meta.images.map((image) => image.id);
  if (new Set(listed).size !== listed.length) {
    throw new InputError(path, `${metadataName} lists an image twice`);
  }
  const inArchive = [...byImage.keys()];
  checkCount(path, `image directories in ${base}/`, inArchive.length, LIMITS.v1Images);
  const listedSet = new Set(listed);
  const notInWeb = listed.filter((id) => !byImage.has(id));
  const notListed = inArchive.filter((id) => !listedSet.has(id));
  if (notInWeb.length > 0 || notListed.length > 0) {
    const parts = [
      notInWeb.length > 0 ? `${metadataName} lists ${notInWeb.join(", ")}, missing from ${base}/` : "",
      notListed.length > 0 ? `${base}/ holds ${notListed.join(", ")}, not listed in ${metadataName}` : "",
    ].filter((s) => s !== "");
    throw new InputError(path, `the images list disagrees with ${base}/: ${parts.join("; ")}`, {
      hint: "Export the repository again from Pulp; the archive was edited or is incomplete.",
    });
  }

  const warnings: string[] = [];
  const repo: V1Repository = {
    name: registryId(meta, metadataName, warnings),
    images: new Map(),
    external: new Set(),
    tags: tagsOf(meta, path, metadataName, warnings),
  };
  for (const id of listed) {
    const files = byImage.get(id) as Map<string, TarMember>;
    for (const file of FILES) {
      if (!files.has(file)) {
        throw new InputError(path, `image ${id} has no ${file} (${base}/${id}/${file} is missing)`);
      }
    }
    repo.images.set(id, await readImage(archive, base, id, files));
  }
  checkChains(repo, path);
  return { images: [], warnings, v1: repo };
}

async function readImage(
  archive: TarIndex,
  base: string,
  id: string,
  files: Map<string, TarMember>,
): Promise<V1Image> {
  const path = archive.path;
  const jsonName = `${base}/${id}/json`;
  const json = await archive.readMember(jsonName, CONFIG_LIMIT);
  const config = parseDocument(V1ImageJson, json, path, jsonName);
  const identity = v1Identity(config, path, jsonName);
  if (identity.id !== id) throw new InputError(path, `${jsonName} says its id is ${identity.id}, not ${id}`);
  const ancestryName = `${base}/${id}/ancestry`;
  const ancestryBytes = await archive.readMember(ancestryName, ANCESTRY_LIMIT);
  const layer = files.get("layer") as TarMember;
  return {
    id,
    parent: identity.parent,
    json,
    config,
    ancestryBytes,
    ancestry: parseAncestry(ancestryBytes, path, ancestryName, LIMITS.layersPerImage),
    layer: {
      size: layer.size,
      gzipped: true,
      open: () => archive.stream(layer),
      origin: `${path}:${base}/${id}/layer`,
    },
  };
}

/** A repo-registry-id that breaks the grammar is ignored with a warning, as docker save names are. */
function registryId(meta: PulpRepo, file: string, warnings: string[]): string | undefined {
  const value = meta["repo-registry-id"];
  if (value === undefined) return undefined;
  const problem =
    repositoryNameProblem(value) ??
    (value.split("/").length > 2 ? "a Pulp repository name has at most two components" : undefined);
  if (problem === undefined) return value;
  warnings.push(ignored(`${file} repo-registry-id`, value, problem));
  return undefined;
}

function tagsOf(meta: PulpRepo, path: string, file: string, warnings: string[]): Record<string, string> {
  const tags = emptyRecord<string>();
  for (const [tag, id] of Object.entries(meta.tags)) {
    if (!isTag(tag)) {
      warnings.push(ignored(`${file} tags`, tag, tagProblem(tag) ?? "not a valid tag"));
      continue;
    }
    if (!isV1Id(id)) throw new InputError(path, `${file} tag ${tag} does not name an image id`);
    tags[tag] = id;
  }
  return tags;
}

export const pulpExportReader: TarReader = {
  format: "pulp-export",
  matches: (archive: TarIndex) => {
    // One pass over the members: top-level directories, then the stems of top-level .json files.
    const members = archive.members();
    const tops = new Set<string>();
    for (const m of members) {
      const slash = m.name.indexOf("/");
      if (slash > 0) tops.add(m.name.slice(0, slash));
    }
    if (tops.has("web")) return true;
    return members.some((m) => /^[^/]+\.json$/.test(m.name) && tops.has(m.name.slice(0, -5)));
  },
  read: readPulpExport,
};
