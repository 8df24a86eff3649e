/**
 * OCI images as Docker schema 2, for registries that know only Docker media types (Pulp Crane
 * 3.3 serves `manifests/2/` and `manifests/list/` with Docker types and nothing else). Layers
 * and the config keep their bytes and digests; only media types change, in the manifest and its
 * descriptors, so the manifest bytes, and with them the manifest digests, change. Docker images
 * pass through unchanged. What has no Docker equivalent (zstd layers, artifacts, an index entry
 * without a platform or that was not read) is refused rather than published half-converted.
 */
import { InputError } from "../errors.js";
import { sha256Digest, type Digest } from "./digest.js";
import type { Blob, ImageIndex, ImageManifest, ManifestNode } from "./model.js";
import { MediaType } from "./media-types.js";

/** OCI type -> Docker type, for what Docker schema 2 can describe. */
const DOCKER_TYPE: ReadonlyMap<string, string> = new Map<string, string>([
  [MediaType.ociManifest, MediaType.dockerManifest],
  [MediaType.ociIndex, MediaType.dockerManifestList],
  [MediaType.ociConfig, MediaType.dockerConfig],
  [MediaType.ociLayerGzip, MediaType.dockerLayerGzip],
  [MediaType.ociLayerTar, MediaType.dockerLayerTar],
  // Docker's "foreign" layer is the non-distributable layer of OCI: fetched from its `urls`.
  [MediaType.ociLayerNondistGzip, MediaType.dockerForeignLayerGzip],
]);
const DOCKER_TYPES: ReadonlySet<string> = new Set(DOCKER_TYPE.values());

/** One manifest whose digest changed. */
export interface SchemaConversion {
  from: Digest;
  to: Digest;
  fromMediaType: string;
  toMediaType: string;
}

export interface Schema2Result {
  root: ManifestNode;
  /** Every manifest whose digest changed, children before the index; empty for a Docker image. */
  conversions: SchemaConversion[];
}

type Json = Record<string, unknown>;

function dockerType(type: unknown, what: string, origin: string): string {
  if (typeof type !== "string") throw new InputError(origin, `${what} has no mediaType`);
  if (DOCKER_TYPES.has(type)) return type;
  const docker = DOCKER_TYPE.get(type);
  if (docker === undefined) {
    throw new InputError(
      origin,
      `${what} has the media type ${type}, which Docker schema 2 cannot describe`,
      {
        hint: "Publish this image without docker_schema2 (it needs an OCI-aware registry), or rebuild it with gzip layers.",
      },
    );
  }
  return docker;
}

/** The manifest object with `mediaType` right after `schemaVersion`, as Docker writes it. */
function withType(doc: Json, mediaType: string, rest: Json): Json {
  const { schemaVersion, mediaType: _old, ...others } = doc;
  return { schemaVersion, mediaType, ...others, ...rest };
}

function serialize(doc: Json): { bytes: Buffer; digest: Digest } {
  const bytes = Buffer.from(JSON.stringify(doc));
  return { bytes, digest: sha256Digest(bytes) };
}

const retyped = (blob: Blob, mediaType: string): Blob =>
  blob.mediaType === mediaType ? blob : { ...blob, mediaType };

function convertImage(image: ImageManifest, origin: string, out: SchemaConversion[]): ImageManifest {
  if (image.mediaType === MediaType.dockerManifest) return image;
  const doc = JSON.parse(image.bytes.toString("utf8")) as Json;
  if (doc.artifactType !== undefined || doc.subject !== undefined) {
    throw new InputError(origin, `${image.digest} is an artifact or refers to another manifest (subject)`, {
      hint: "Docker schema 2 has neither; publish it without docker_schema2.",
    });
  }
  const config = doc.config as Json;
  const layers = doc.layers as Json[];
  const configType = dockerType(config.mediaType, `the config of ${image.digest}`, origin);
  const layerTypes = layers.map((layer, i) =>
    dockerType(layer.mediaType, `layer ${i + 1} of ${image.digest}`, origin),
  );
  const converted = withType(doc, MediaType.dockerManifest, {
    config: { ...config, mediaType: configType },
    layers: layers.map((layer, i) => ({ ...layer, mediaType: layerTypes[i] })),
  });
  const { bytes, digest } = serialize(converted);
  out.push({
    from: image.digest,
    to: digest,
    fromMediaType: image.mediaType,
    toMediaType: MediaType.dockerManifest,
  });
  return {
    ...image,
    mediaType: MediaType.dockerManifest,
    digest,
    bytes,
    config: retyped(image.config, configType),
    layers: image.layers.map((layer, i) => retyped(layer, layerTypes[i] ?? layer.mediaType)),
  };
}

function convertIndex(index: ImageIndex, origin: string, out: SchemaConversion[]): ImageIndex {
  const children = new Map(index.manifests.map((m) => [m.digest, convertImage(m, origin, out)]));
  if (index.mediaType === MediaType.dockerManifestList && [...children].every(([d, m]) => d === m.digest)) {
    return index;
  }
  const doc = JSON.parse(index.bytes.toString("utf8")) as Json;
  const entries = (doc.manifests as Json[]).map((entry) => {
    const child = children.get(entry.digest as Digest);
    if (child === undefined || entry.platform === undefined) {
      throw new InputError(
        origin,
        `the index ${index.digest} lists ${String(entry.digest)} ${child === undefined ? "which is not an image manifest raas read" : "without a platform"}`,
        { hint: "A Docker manifest list holds platform images only; publish it without docker_schema2." },
      );
    }
    return { ...entry, mediaType: child.mediaType, digest: child.digest, size: child.bytes.length };
  });
  if (doc.subject !== undefined || doc.artifactType !== undefined) {
    throw new InputError(
      origin,
      `the index ${index.digest} is an artifact or refers to another manifest (subject)`,
    );
  }
  const { bytes, digest } = serialize(withType(doc, MediaType.dockerManifestList, { manifests: entries }));
  out.push({
    from: index.digest,
    to: digest,
    fromMediaType: index.mediaType,
    toMediaType: MediaType.dockerManifestList,
  });
  return {
    ...index,
    mediaType: MediaType.dockerManifestList,
    digest,
    bytes,
    manifests: index.manifests.map((m) => children.get(m.digest) ?? m),
  };
}

/** `root` as Docker schema 2 (see the file comment); `origin` names the input in errors. */
export function toDockerSchema2(root: ManifestNode, origin: string): Schema2Result {
  const conversions: SchemaConversion[] = [];
  const converted =
    root.kind === "image" ? convertImage(root, origin, conversions) : convertIndex(root, origin, conversions);
  return { root: converted, conversions };
}
