import type { Readable } from "node:stream";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import { HashingStream, type Digest } from "./digest.js";

/** The v2 identity of a gzip layer: what a manifest and a config need to reference it. */
export interface LayerDescriptor {
  /** sha256 of the gzip bytes. */
  digest: Digest;
  /** Size of the gzip bytes. */
  size: number;
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId: Digest;
}

/**
 * Fixed gzip settings for `docker save` layer.tar files, which are published gzipped: zlib
 * gives the same bytes for the same input and settings, so the digest computed in the
 * describing pass is the digest of what the upload pass streams.
 */
export const GZIP_OPTIONS = { level: 6, memLevel: 8 } as const;

export function gzipOf(tar: Readable): Readable {
  return tar.pipe(createGzip(GZIP_OPTIONS));
}

/** Thrown when a stream passes its byte limit (a gzip bomb while inflating). */
export class InflateLimitError extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} bytes`);
    this.name = "InflateLimitError";
  }
}

/**
 * Hashes a gzip stream twice in one pass: the compressed bytes (digest, size) and, through a
 * streaming gunzip, the uncompressed tar (diff_id). Nothing is buffered beyond a chunk, and
 * inflating stops with InflateLimitError past `maxInflated` bytes.
 */
export async function describeGzip(gzip: Readable, maxInflated?: number): Promise<LayerDescriptor> {
  const compressed = new HashingStream();
  const uncompressed = new HashingStream(
    maxInflated === undefined
      ? undefined
      : { limit: maxInflated, tooLarge: (limit) => new InflateLimitError(limit) },
  );
  const sink = new PassThrough();
  sink.resume();
  await pipeline(gzip, compressed, createGunzip(), uncompressed, sink);
  return { digest: compressed.digest(), size: compressed.size(), diffId: uncompressed.digest() };
}

/** Describes an uncompressed tar as it will be published: gzipped with GZIP_OPTIONS. */
export async function describeTar(tar: Readable, maxInflated?: number): Promise<LayerDescriptor> {
  return describeGzip(gzipOf(tar), maxInflated);
}
