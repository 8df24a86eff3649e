/**
 * The local store's file writes: one thread per process writes each batch the store hands it in
 * slices of at most SLICE_BYTES, each one `pwrite`, so a batch is one message to the thread and
 * back, not one trip through libuv's thread pool per slice, and the event loop never waits for
 * the disk.
 *
 * Why slices of 32 KiB: a write call of more than 32 KiB lets the kernel put it in the page cache
 * as one large folio (a block of pages of a higher order). Where free memory has been recycled,
 * such blocks cost far more to fill: measured on a 2-core VM (kernel 6.18, ext4), with `dd` and
 * with node writing 1 GiB files in a row, a file written 64 KiB to 1 MiB per call took 0.25 s of
 * system time per GiB for the first GiB or two and 2.4-2.9 s per GiB after that, while 32 KiB per
 * call stayed at 0.3-0.4 s per GiB throughout. 32 KiB is also the buffer Go's `io.Copy` uses,
 * so the reference registry writes that way. Through libuv's pool, 32 KiB writes cost about
 * 1.5 s of CPU per GiB in round trips; on this thread, about 0.4 s.
 *
 * A buffer is moved to the thread and back (its ArrayBuffer transferred, not copied): the caller
 * gives it up with the write and gets it back when the write settles. (A SharedArrayBuffer would
 * avoid the move, but V8 copies into shared memory with a relaxed, byte-careful memmove that
 * cost about 10 % of the server's CPU in an upload.)
 */
import { Worker } from "node:worker_threads";

/** The most bytes one write call puts in the file (see above). */
export const SLICE_BYTES = 32 * 1024;

/**
 * The thread's loop over one write: slices of at most `slice` bytes, each continued where a short
 * write stopped. A function declaration in plain JavaScript, run by the thread from this text
 * (the server is bundled into one file, so the thread cannot be a module of its own) and by the
 * tests against a stand-in for the file system.
 */
export const WRITE_SLICES_SOURCE = `
function writeSlices(fs, fd, data, position, slice) {
  let at = 0;
  while (at < data.length) {
    const n = fs.writeSync(fd, data, at, Math.min(slice, data.length - at), position + at);
    if (n <= 0) throw Object.assign(new Error("the file accepted no bytes (short write)"), { code: "EIO" });
    at += n;
  }
}
`;

/** The thread: an ES module from a data: URL, whatever module type the process's flags set. */
const WRITER_SOURCE = `
import { parentPort } from "node:worker_threads";
import * as fs from "node:fs";
${WRITE_SLICES_SOURCE}
parentPort.on("message", (job) => {
  let error;
  try {
    writeSlices(fs, job.fd, Buffer.from(job.memory, 0, job.length), job.position, job.slice);
  } catch (err) {
    error = { message: String(err?.message), code: err?.code, syscall: err?.syscall };
  }
  parentPort.postMessage({ id: job.id, memory: job.memory, error }, [job.memory]);
});
`;

interface Job {
  id: number;
  fd: number;
  memory: ArrayBuffer;
  length: number;
  position: number;
  slice: number;
}

interface Reply {
  id: number;
  memory: ArrayBuffer;
  error?: { message: string; code?: string; syscall?: string };
}

interface Pending {
  resolve(buffer: Buffer): void;
  reject(err: Error): void;
}

let thread: Worker | undefined;
const pending = new Map<number, Pending>();
let nextId = 0;

/** The writer thread, started on first use and again after it died. */
function writer(): Worker {
  if (thread !== undefined) return thread;
  const started = new Worker(new URL(`data:text/javascript,${encodeURIComponent(WRITER_SOURCE)}`), {
    name: "raas file writer",
  });
  started.on("message", (reply: Reply) => {
    const waiting = pending.get(reply.id);
    if (waiting === undefined) return;
    pending.delete(reply.id);
    if (pending.size === 0) started.unref();
    const buffer = Buffer.from(reply.memory);
    if (reply.error === undefined) return waiting.resolve(buffer);
    waiting.reject(Object.assign(new Error(reply.error.message), reply.error, { buffer }));
  });
  const fail = (err: Error): void => {
    if (thread === started) thread = undefined;
    for (const [id, waiting] of pending) {
      pending.delete(id);
      waiting.reject(err);
    }
  };
  started.on("error", fail);
  started.on("exit", (code) => fail(new Error(`the file writer thread stopped (exit code ${code})`)));
  started.unref();
  thread = started;
  return started;
}

/** A buffer with an ArrayBuffer of its own (never node's shared pool), which `writeAt` can move. */
export function movableBuffer(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size);
}

/** Whether `buffer` spans its whole ArrayBuffer, so moving that moves nothing else. */
function ownsItsMemory(buffer: Buffer): boolean {
  return (
    !(buffer.buffer instanceof SharedArrayBuffer) &&
    buffer.byteOffset === 0 &&
    buffer.byteLength === buffer.buffer.byteLength
  );
}

/**
 * Writes the first `length` bytes of `buffer` (from `movableBuffer`) to `fd` at `position`.
 * `buffer` is unusable from the call on (its memory is with the thread); the promise gives it
 * back, or rejects with the file system's error (its `code` kept, the buffer as `buffer`, unless
 * the thread died). The process stays alive while a write is pending.
 */
export function writeAt(fd: number, buffer: Buffer, length: number, position: number): Promise<Buffer> {
  if (!ownsItsMemory(buffer)) {
    throw new TypeError("writeAt needs a buffer with memory of its own (movableBuffer)");
  }
  if (length < 0 || length > buffer.length) {
    throw new RangeError(`writeAt: ${length} bytes asked of a buffer of ${buffer.length}`);
  }
  const worker = writer();
  const id = (nextId += 1);
  const memory = buffer.buffer as ArrayBuffer;
  const job: Job = { id, fd, memory, length, position, slice: SLICE_BYTES };
  return new Promise<Buffer>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.ref();
    worker.postMessage(job, [memory]);
  });
}

/** Stops the writer thread (tests: what a thread that died does to pending writes). */
export async function stopWriter(): Promise<void> {
  await thread?.terminate();
}
