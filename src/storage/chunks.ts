import type { Readable } from "node:stream";

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
    yield* intoBuffers(body, size, take);
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
