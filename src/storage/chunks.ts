import type { Readable } from "node:stream";

/**
 * Cuts a body into pieces of exactly `size` bytes (the last one may be shorter, an empty body
 * yields nothing). The source is only read when the consumer asks for the next piece, so memory
 * stays near one piece plus one source chunk however large the body is.
 */
export async function* fixedChunks(body: Readable | Buffer, size: number): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(body)) {
    for (let offset = 0; offset < body.length; offset += size) {
      yield body.subarray(offset, Math.min(offset + size, body.length));
    }
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
