import type { Readable } from "node:stream";
import type { Digest } from "./digest.js";
import type { V1Source } from "./v1.js";

/**
 * The normalized image model every reader produces. Readers never extract an archive:
 * a Blob knows how to open its bytes as a stream (by offset into the archive or from a file).
 */
export interface Blob {
  /** Declared digest. Readers check the grammar; the bytes are verified by whoever reads them. */
  digest: Digest;
  /** Exact size in bytes. */
  size: number;
  mediaType: string;
  /** Opens the blob's bytes; each call returns a fresh stream. */
  open(): Readable;
  /** Human description of where the bytes live, for error messages (`x.tar:blobs/sha256/ab..`). */
  origin: string;
  /**
   * Other names that identify this layer for masking: the v1 image id of a `docker save` layer,
   * a Pulp image id. The digest and its bare hex always match as well.
   */
  aliases?: string[];
  /** Uncompressed digest (diff_id) when the reader knows it. */
  diffId?: Digest;
  /** Where a masked vendor layer is hosted; the registry redirects there instead of to storage. */
  url?: string;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

/** A single-platform image manifest (Docker schema 2 or OCI image manifest). */
export interface ImageManifest {
  kind: "image";
  digest: Digest;
  mediaType: string;
  /** The exact bytes that are published and served; `digest` is their sha256. */
  bytes: Buffer;
  config: Blob;
  layers: Blob[];
  /** Set for a child of an index. */
  platform?: Platform;
}

/** A manifest list or OCI image index, whose children are image manifests. */
export interface ImageIndex {
  kind: "index";
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
  manifests: ImageManifest[];
}

export type ManifestNode = ImageManifest | ImageIndex;

/** A repository reference found in the input (or given with --name/--tag). */
export interface ImageRef {
  name: string;
  tag?: string;
}

/** One image of an input, with the names the input gives it. */
export interface SourceImage {
  root: ManifestNode;
  refs: ImageRef[];
  /** Set when the image came from a v1 input (Pulp export, pre-1.10 docker save). */
  v1?: V1Source;
  /**
   * How many names the input gave this image that break the grammar and were ignored (each
   * with a warning): an image left with no valid name is not published.
   */
  droppedNames?: number;
}

export type SourceFormat =
  "docker-archive" | "docker-archive-legacy" | "oci-layout" | "pulp-export" | "registry";

/** An opened input: zero or more images; `close()` releases file handles. */
export interface ImageSource {
  /** The path the user gave, used in every message about this input. */
  path: string;
  format: SourceFormat;
  images: SourceImage[];
  close(): Promise<void>;
}

/** Every distinct blob (configs and layers) reachable from a node, in first-seen order. */
export function blobsOf(node: ManifestNode): Blob[] {
  const seen = new Map<string, Blob>();
  const images = node.kind === "image" ? [node] : node.manifests;
  for (const image of images) {
    for (const blob of [image.config, ...image.layers]) {
      if (!seen.has(blob.digest)) seen.set(blob.digest, blob);
    }
  }
  return [...seen.values()];
}

/** Every manifest of a node, children before the index that lists them. */
export function manifestsOf(node: ManifestNode): ManifestNode[] {
  if (node.kind === "image") return [node];
  const children = new Map<string, ManifestNode>();
  for (const child of node.manifests) if (!children.has(child.digest)) children.set(child.digest, child);
  return [...children.values(), node];
}
