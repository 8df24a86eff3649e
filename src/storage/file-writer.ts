/**
 * The local store's file writes: one thread per process writes each batch the store hands it in
 * slices of at most SLICE_BYTES, each one `pwrite`, so a batch is one message to the thread and
 * back, not one trip through libuv's thread pool per slice, and the event loop never waits for
 * the disk.
 *
 * Why slices of 32 KiB: a write call of more than 32 KiB lets the kernel put it in the page cache
 * as one large folio (a block of pages of a higher order). Where free memory has been recycled,
 * such blocks cost far more to fill: measured with `dd` on a 2-core VM (kernel 6.18, ext4),
 * writing 1 GiB files in a row, 64 KiB to 1 MiB per call took about 0.25 s of system time per GiB
 * for the first GiB or two and 2.4-2.5 s per GiB after that, while 32 KiB per call stayed at
 * 0.3-0.4 s per GiB (bench/README.md, "Free memory and the page cache").
 *
 * One thread serves every write of the process, one batch at a time: a disk that stalls (a
 * failing device, a network file system) holds up every upload of that process, as it would the
 * disk's other writers; the event loop, and so every other request, goes on.
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

/** A writer thread and the writes sent to it that it has not answered yet. */
interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
}

let current: Thread | undefined;
let nextId = 0;
let started = 0;
let sent = 0;

/**
 * The writer thread, started on first use and again once it failed. A thread's writes are settled
 * by that thread alone: its answers, or its exit (which comes after it has stopped writing), never
 * another thread's.
 */
function writer(): Thread {
  if (current !== undefined) return current;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(WRITER_SOURCE)}`), {
    name: "raas file writer",
  });
  const thread: Thread = { worker, pending: new Map() };
  started += 1;
  worker.on("message", (reply: Reply) => {
    const waiting = thread.pending.get(reply.id);
    if (waiting === undefined) return;
    thread.pending.delete(reply.id);
    if (thread.pending.size === 0) worker.unref();
    const buffer = Buffer.from(reply.memory);
    if (reply.error === undefined) return waiting.resolve(buffer);
    waiting.reject(Object.assign(new Error(reply.error.message), reply.error, { buffer }));
  });
  // An uncaught error ends the thread: new writes go to a new one; this one's fail on its exit.
  worker.on("error", () => {
    if (current === thread) current = undefined;
  });
  worker.on("exit", (code) => {
    if (current === thread) current = undefined;
    const err = new Error(`the file writer thread stopped (exit code ${code})`);
    for (const waiting of thread.pending.values()) waiting.reject(err);
    thread.pending.clear();
  });
  worker.unref();
  current = thread;
  return thread;
}

/** Threads started and writes sent so far (tests: which path a write took). */
export function writerStats(): { started: number; sent: number } {
  return { started, sent };
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
  const thread = writer();
  const id = (nextId += 1);
  const memory = buffer.buffer as ArrayBuffer;
  const job: Job = { id, fd, memory, length, position, slice: SLICE_BYTES };
  return new Promise<Buffer>((resolve, reject) => {
    thread.pending.set(id, { resolve, reject });
    thread.worker.ref();
    thread.worker.postMessage(job, [memory]);
    sent += 1;
  });
}

/**
 * Stops the writer thread (tests: what a thread that died does to the writes it had). Writes made
 * from now on go to a new thread; the stopped one's fail once it has exited.
 */
export async function stopWriter(): Promise<void> {
  const thread = current;
  current = undefined;
  await thread?.worker.terminate();
}
