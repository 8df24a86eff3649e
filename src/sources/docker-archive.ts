import { InputError } from "../errors.js";
import { sha256Digest, type Digest } from "../image/digest.js";
import { MediaType } from "../image/media-types.js";
import type { Blob, ImageManifest } from "../image/model.js";
import { checkDigest, parseDocument } from "./json.js";
import { schema2Image } from "../image/schema2.js";
import { CONFIG_LIMIT, MANIFEST_LIMIT } from "./oci-blobs.js";
import { checkCount, LIMITS } from "./limits.js";
import { refFrom } from "./refs.js";
import { DockerImageConfig, DockerManifestJson, type DockerManifestEntry } from "./schemas.js";
import type { TarIndex, TarMember } from "./tar-index.js";
import { addRef, type ReadImage, type ReadResult, type TarReader } from "./types.js";

/**
 * `docker save` from Docker 1.10 to 24: manifest.json lists, per image, a config
 * `<hex>.json` and `<v1id>/layer.tar` layers (uncompressed; a layer that appears twice is
 * stored once and linked as `../<otherid>/layer.tar`). There is no registry manifest in the
 * archive, so one is built here: Docker schema 2, with compact JSON in a fixed key order so
 * the same archive always gives the same manifest digest.
 */
export async function readDockerArchive(archive: TarIndex): Promise<ReadResult> {
  const path = archive.path;
  const doc = parseDocument(
    DockerManifestJson,
    await archive.readMember("manifest.json", MANIFEST_LIMIT),
    path,
    "manifest.json",
  );
  checkCount(path, "entries in manifest.json", doc.length, LIMITS.entriesPerList);
  const warnings: string[] = [];
  const byDigest = new Map<string, ReadImage>();
  // An entry repeated (same config, same layers) is read once; its config is hashed once.
  const entries = new Map<string, Promise<ImageManifest>>();
  const configs = new Map<string, Promise<ConfigRead>>();
  let refCount = 0;
  for (const [i, entry] of doc.entries()) {
    const where = `manifest.json entry ${i + 1}`;
    const key = JSON.stringify([entry.Config, entry.Layers]);
    let pending = entries.get(key);
    if (pending === undefined) {
      pending = readEntry(archive, entry, where, configs);
      entries.set(key, pending);
    }
    const root = await pending;
    let image = byDigest.get(root.digest);
    if (image === undefined) {
      image = { root, refs: [], tags: [] };
      byDigest.set(root.digest, image);
    }
    const repoTags = entry.RepoTags ?? [];
    refCount += repoTags.length;
    checkCount(path, "RepoTags in manifest.json", refCount, LIMITS.refs);
    const before = warnings.length;
    for (const value of repoTags) {
      const ref = refFrom(value, `${where} RepoTags`, warnings);
      if (ref !== undefined) addRef(image.refs, ref);
    }
    if (warnings.length > before) image.droppedNames = (image.droppedNames ?? 0) + warnings.length - before;
  }
  return { images: [...byDigest.values()], warnings };
}

/** Paths in manifest.json are names inside the archive, never host paths. */
function memberFor(archive: TarIndex, value: string): TarMember {
  const cut = archive.complete ? "" : " (the archive has no end-of-archive marker; it may be truncated)";
  const missing = new InputError(
    archive.path,
    `manifest.json references ${value}, which is not in the archive${cut}`,
  );
  if (value.startsWith("/") || value.split("/").includes("..") || value.includes("\\")) throw missing;
  const member = archive.lookup(value);
  if (member === undefined) throw missing;
  return member;
}

function expectedConfigDigest(name: string): Digest | undefined {
  const match = /(?:^|\/)([a-f0-9]{64})\.json$/.exec(name) ?? /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
  return match?.[1] === undefined ? undefined : `sha256:${match[1]}`;
}

interface ConfigRead {
  bytes: Buffer;
  digest: Digest;
}

async function readEntry(
  archive: TarIndex,
  entry: DockerManifestEntry,
  where: string,
  configs: Map<string, Promise<ConfigRead>>,
): Promise<ImageManifest> {
  const path = archive.path;
  const configName = entry.Config;
  const configMember = memberFor(archive, configName);
  let configRead = configs.get(configMember.name);
  if (configRead === undefined) {
    configRead = archive
      .readMember(configName, CONFIG_LIMIT)
      .then((bytes) => ({ bytes, digest: sha256Digest(bytes) }));
    configs.set(configMember.name, configRead);
  }
  const { bytes: configBytes, digest: configDigest } = await configRead;
  const expected = expectedConfigDigest(configName);
  if (expected !== undefined && expected !== configDigest) {
    throw new InputError(
      path,
      `${configName} does not match the digest in its name (content is ${configDigest})`,
    );
  }
  const diffIds = parseDocument(DockerImageConfig, configBytes, path, configName).rootfs.diff_ids;
  if (diffIds.length !== entry.Layers.length) {
    throw new InputError(
      path,
      `${configName} lists ${diffIds.length} rootfs.diff_ids, but ${where} has ${entry.Layers.length} layers`,
    );
  }
  checkCount(path, `layers in ${where}`, entry.Layers.length, LIMITS.layersPerImage);
  const layers: Blob[] = [];
  for (const [j, name] of entry.Layers.entries()) {
    const member = memberFor(archive, name);
    const diffId = checkDigest(diffIds[j], path, `${configName} rootfs.diff_ids[${j}]`);
    const directory = name.split("/").filter((s) => s !== "" && s !== ".")[0];
    const layer: Blob = {
      digest: diffId,
      size: member.size,
      mediaType: MediaType.dockerLayerTar,
      open: () => archive.stream(member),
      origin: `${path}:${name}`,
      diffId,
    };
    if (directory !== undefined && directory !== name) layer.aliases = [directory];
    layers.push(layer);
  }
  const configBlob: Blob = {
    digest: configDigest,
    size: configMember.size,
    mediaType: MediaType.dockerConfig,
    open: () => archive.stream(configMember),
    origin: `${path}:${configName}`,
  };
  return schema2Image(configBlob, layers);
}

export const dockerArchiveReader: TarReader = {
  format: "docker-archive",
  matches: (archive: TarIndex) => archive.get("manifest.json") !== undefined,
  read: readDockerArchive,
};
