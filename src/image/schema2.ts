import { sha256Digest } from "./digest.js";
import { MediaType } from "./media-types.js";
import type { Blob, ImageManifest } from "./model.js";

/**
 * Docker schema 2 manifest bytes for blobs that have no registry manifest of their own
 * (`docker save`, v1 conversions): compact JSON in a fixed key order, so the same input always
 * gives the same digest. A layer served by its vendor carries its `urls` (a foreign layer).
 */
export function schema2Manifest(config: Blob, layers: Blob[]): Buffer {
  const descriptor = (blob: Blob) => ({
    mediaType: blob.mediaType,
    size: blob.size,
    digest: blob.digest,
    ...(blob.mediaType === MediaType.dockerForeignLayerGzip && blob.url !== undefined
      ? { urls: [blob.url] }
      : {}),
  });
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: descriptor(config),
      layers: layers.map(descriptor),
    }),
  );
}

/** A Docker schema 2 image built from its blobs (deterministic bytes, so a re-push has the same digest). */
export function schema2Image(config: Blob, layers: Blob[]): ImageManifest {
  const bytes = schema2Manifest(config, layers);
  return {
    kind: "image",
    digest: sha256Digest(bytes),
    mediaType: MediaType.dockerManifest,
    bytes,
    config,
    layers,
  };
}
