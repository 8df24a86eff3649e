import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { unreadFileRegion, type FileRegion } from "../adapters/file-region.js";

/**
 * Cuts a body into pieces of exactly `size` bytes (the last one may be shorter, an empty body
 * yields nothing). The source is only read when the consumer asks for the next piece, so memory
 * stays near one piece plus one source chunk however large the body is.
 */
export async function* fixedChunks(
  body: Readable | Buffer,
  size: number,
  take?: (size: number) => Buffer,
): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(body)) {
    for (let offset = 0; offset < body.length; offset += size) {
      yield body.subarray(offset, Math.min(offset + size, body.length));
    }
    return;
  }
  if (take !== undefined) {
    const region = unreadFileRegion(body);
    yield* region === undefined ? intoBuffers(body, size, take) : regionIntoBuffers(body, region, size, take);
    return;
  }
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const raw of body as AsyncIterable<Buffer | string>) {
    const chunk = typeof raw === "string" ? Buffer.from(raw) : raw;
    if (chunk.length === 0) continue;
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes < size) continue;
    let all = pending.length === 1 ? chunk : Buffer.concat(pending, pendingBytes);
    while (all.length >= size) {
      yield all.subarray(0, size);
      all = all.subarray(size);
    }
    pending = all.length === 0 ? [] : [all];
    pendingBytes = all.length;
  }
  if (pendingBytes > 0) yield pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending);
}

/**
 * The same cut, copying the source into buffers from `take` (a pool that gets them back once a
 * part is sent): no fresh part-sized allocation per part, so garbage does not pile up between
 * collections and peak memory stays near the number of buffers in use.
 */
async function* intoBuffers(
  body: Readable,
  size: number,
  take: (size: number) => Buffer,
): AsyncGenerator<Buffer> {
  let part: Buffer | undefined;
  let filled = 0;
  for await (const raw of body as AsyncIterable<Buffer | string>) {
    const chunk = typeof raw === "string" ? Buffer.from(raw) : raw;
    let offset = 0;
    while (offset < chunk.length) {
      part ??= take(size);
      const n = Math.min(size - filled, chunk.length - offset);
      chunk.copy(part, filled, offset, offset + n);
      filled += n;
      offset += n;
      if (filled === size) {
        const full = part;
        part = undefined;
        filled = 0;
        yield full;
      }
    }
  }
  if (part !== undefined && filled > 0) yield part.subarray(0, filled);
}

/**
 * The same cut for a stream over a file region (adapters/file-region.ts) nothing has read yet:
 * the file is read straight into the buffers from `take`, with no chunk copied in between, and
 * the stream itself is never read. The bytes are those the stream would give: the region, or
 * up to the end of the file, shorter when the file is.
 */
async function* regionIntoBuffers(
  body: Readable,
  region: FileRegion,
  size: number,
  take: (size: number) => Buffer,
): AsyncGenerator<Buffer> {
  // The stream is opening its file: an error of that open (the file gone) is the one the read
  // below reports, and must not surface again as an unhandled stream error.
  body.on("error", () => undefined);
  body.destroy();
  const handle = await open(region.path, "r");
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  try {
    let position = region.start;
    let left = region.length ?? Number.POSITIVE_INFINITY;
    // Each part starts with a byte read ahead: a buffer is taken only when there is something to
    // put in it, and the last part is known before it is handed over, so the file is closed
    // then, even when the consumer never asks for more (a single-part upload).
    const ahead = Buffer.alloc(1);
    const nextByte = async (): Promise<number | undefined> =>
      left > 0 && (await handle.read(ahead, 0, 1, position)).bytesRead === 1 ? ahead[0] : undefined;
    let first = await nextByte();
    while (first !== undefined) {
      const part = take(size);
      part[0] = first;
      let filled = 1;
      position += 1;
      while (filled < size && filled < left) {
        const { bytesRead } = await handle.read(part, filled, Math.min(size, left) - filled, position);
        if (bytesRead === 0) break;
        filled += bytesRead;
        position += bytesRead;
      }
      left -= filled;
      first = filled === size ? await nextByte() : undefined;
      if (first === undefined) await close();
      yield filled === size ? part : part.subarray(0, filled);
    }
  } finally {
    await close();
  }
}
