/**
 * The local store's write of one object: each chunk of the body is hashed (node's native SHA-256)
 * as it arrives, while it is still in the CPU's cache, and copied into one of two buffers of
 * BATCH_BYTES; a full buffer is written to the file with one call while the other one fills.
 *
 * Why: an upload's body arrives from the socket in small chunks (often 20-40 KiB). A file write
 * per chunk is a round trip through libuv's thread pool (a queue lock, a wake-up, a completion
 * event) and, with a file stream's small buffer, a pause and resume of the socket each time;
 * holding the chunks themselves until a batch is written keeps them alive long enough to be
 * promoted out of V8's young generation, which made garbage collection a large cost. Copying
 * them (about 0.1 s per GiB) lets them die young; a 1 GiB blob is then about two thousand writes
 * instead of tens of thousands. Memory is bounded: two buffers per write in flight (kept in a
 * small pool between writes) plus the writable buffer (HIGH_WATER). The batches are written by
 * the process's file writer thread, in slices (`file-writer.ts` says why).
 */
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { Writable, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Digest } from "../image/digest.js";
import { movableBuffer, writeAt } from "./file-writer.js";
import type { PutResult } from "./types.js";

/** Bytes gathered before one write. */
export const BATCH_BYTES = 512 * 1024;
/** Bytes buffered while a body waits for a write, before it is paused. */
const HIGH_WATER = 256 * 1024;
/** Buffers kept for the next writes (the rest are left to the garbage collector). */
const POOL_SIZE = 16;

const pool: Buffer[] = [];
const take = (): Buffer => pool.pop() ?? movableBuffer(BATCH_BYTES);
const give = (buffer: Buffer): void => {
  if (pool.length < POOL_SIZE) pool.push(buffer);
};

/**
 * Writes the first `length` bytes of `buffer` (a pooled one, given up for the write) at
 * `position` of the file, and gives the buffer back.
 */
export type WriteBatch = (buffer: Buffer, length: number, position: number) => Promise<Buffer>;

/**
 * Hashes, counts, copies and writes what it is given to `handle`. Only one write is in flight;
 * the body is held up only when a full buffer waits behind it (a slow disk, or a thread pool the
 * scheduler has not run yet).
 */
export class HashedFileSink extends Writable {
  private readonly hash = createHash("sha256");
  private bytes = 0;
  private written = 0;
  /** The buffer being filled, and how much of it is. */
  private buffer: Buffer | undefined;
  private filled = 0;
  /** The write in flight (it never rejects: its error goes to `failure`). */
  private inFlight: { done: Promise<void> } | undefined;
  private failure: Error | undefined;

  private readonly writeBatch: WriteBatch;

  constructor(
    handle: FileHandle,
    private readonly onProgress?: (bytesWritten: number) => void,
    writeBatch?: WriteBatch,
  ) {
    super({ highWaterMark: HIGH_WATER });
    this.writeBatch =
      writeBatch ?? ((buffer, length, position) => writeAt(handle.fd, buffer, length, position));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.failure !== undefined) return callback(this.failure);
    this.bytes += chunk.length;
    this.hash.update(chunk);
    this.fill(chunk, callback);
  }

  /** Copy `chunk` into the buffer, writing each one that fills; waits only behind a write in flight. */
  private fill(chunk: Buffer, callback: (err?: Error | null) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      const buffer = (this.buffer ??= take());
      const n = chunk.copy(buffer, this.filled, offset);
      this.filled += n;
      offset += n;
      if (this.filled < BATCH_BYTES) break;
      if (this.inFlight !== undefined) {
        const rest = chunk.subarray(offset);
        void this.inFlight.done.then(() => {
          if (this.failure !== undefined) return callback(this.failure);
          // Destroyed meanwhile (the body failed): start nothing more on the file.
          if (this.destroyed) return callback();
          this.startWrite();
          this.fill(rest, callback);
        });
        return;
      }
      this.startWrite();
    }
    callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    void this.settled().then(() => {
      this.startWrite();
      void this.settled().then(() => {
        this.release();
        callback(this.failure);
      });
    });
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    void this.idle().then(() => {
      this.release();
      callback(err);
    });
  }

  private settled(): Promise<void> {
    return this.inFlight?.done ?? Promise.resolve();
  }

  /**
   * Resolves once no write runs on the file (none starts after the sink is destroyed). A
   * pipeline rejects as soon as its source fails, before the sink's destroy has finished: the
   * caller waits for this before it closes the file.
   */
  async idle(): Promise<void> {
    while (this.inFlight !== undefined) await this.inFlight.done;
  }

  private release(): void {
    if (this.buffer !== undefined) give(this.buffer);
    this.buffer = undefined;
  }

  /** Write the filled part of the buffer; the next bytes go to another buffer. */
  private startWrite(): void {
    const buffer = this.buffer;
    const size = this.filled;
    if (buffer === undefined || size === 0 || this.failure !== undefined || this.destroyed) return;
    this.buffer = undefined;
    this.filled = 0;
    // Only one write is ever in flight and a write starts only after the one before succeeded,
    // so what has been written is where this batch goes.
    const position = this.written;
    // The buffer is the writer's until it gives it back (a failed write may not: then it is
    // left to the garbage collector).
    const done: Promise<void> = attempt(() => this.writeBatch(buffer, size, position))
      .then(
        (back) => {
          give(back);
          this.written += size;
          this.onProgress?.(this.written);
        },
        (err: unknown) => {
          // The buffer comes back with the error; the error must not keep it (it returns to
          // the pool, and other uploads' bytes would then hang off this one's error).
          const carrier = err as { buffer?: unknown } | undefined;
          if (Buffer.isBuffer(carrier?.buffer)) {
            give(carrier.buffer);
            delete carrier.buffer;
          }
          this.failure ??= err instanceof Error ? err : new Error(String(err));
        },
      )
      .finally(() => {
        if (this.inFlight?.done === done) this.inFlight = undefined;
      });
    this.inFlight = { done };
  }

  /** What was written: call once the stream has finished. */
  result(): PutResult {
    const digest: Digest = `sha256:${this.hash.digest("hex")}`;
    return { digest, size: this.bytes };
  }
}

/** `write()`'s promise, with a synchronous throw turned into a rejection. */
function attempt<T>(write: () => Promise<T>): Promise<T> {
  try {
    return write();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * Writes until every byte of `data` is in the file (a short write continues where it stopped):
 * Buffer bodies, which are metadata (manifests, a few MiB at most).
 */
async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let rest = data;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.write(rest);
    if (bytesWritten === 0) throw new Error("the file accepted no bytes (short write)");
    rest = rest.subarray(bytesWritten);
  }
}

/**
 * Writes `body` to `handle` (an empty file open for writing); returns its size and SHA-256.
 * `writeBatch` replaces the writer thread (tests). Aborting `signal` stops the copy of a stream
 * body (it is destroyed) and rejects.
 */
export async function writeHashed(
  handle: FileHandle,
  body: Readable | Buffer,
  onProgress?: (bytesWritten: number) => void,
  writeBatch?: WriteBatch,
  signal?: AbortSignal,
): Promise<PutResult> {
  if (Buffer.isBuffer(body)) {
    await writeAll(handle, body);
    onProgress?.(body.length);
    return { digest: `sha256:${createHash("sha256").update(body).digest("hex")}`, size: body.length };
  }
  const sink = new HashedFileSink(handle, onProgress, writeBatch);
  try {
    if (signal === undefined) await pipeline(body, sink);
    else await pipeline(body, sink, { signal });
  } catch (err) {
    await sink.idle();
    throw err;
  }
  return sink.result();
}
