/**
 * Streams over a region of a file (an archive member, a blob file of an OCI layout) that
 * remember where they read from. A consumer that copies a body into buffers of its own (the S3
 * upload's part pool, storage/chunks.ts) can then read the file straight into those buffers:
 * no 64 KiB chunk per read that is copied once more and left for the garbage collector. Every
 * other consumer reads the stream as usual.
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";

export interface FileRegion {
  path: string;
  /** Byte offset of the region in the file. */
  start: number;
  /** Its length in bytes; undefined: up to the end of the file, as the file is when read. */
  length: number | undefined;
}

const regions = new WeakMap<Readable, FileRegion>();

/** A stream of `length` bytes of `path` from `start` (to the end of the file without a length). */
export function fileRegionStream(path: string, start = 0, length?: number): Readable {
  if (length === 0) return Readable.from([]);
  const stream =
    length === undefined
      ? createReadStream(path, { start })
      : createReadStream(path, { start, end: start + length - 1 });
  regions.set(stream, { path, start, length });
  return stream;
}

/** The region of a stream made by fileRegionStream, as long as nothing has read from it yet. */
export function unreadFileRegion(body: Readable): FileRegion | undefined {
  const region = regions.get(body);
  if (region === undefined || body.readableDidRead || body.readableFlowing !== null || body.destroyed) {
    return undefined;
  }
  return region;
}
