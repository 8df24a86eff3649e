import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { runInNewContext } from "node:vm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  SLICE_BYTES,
  WRITE_SLICES_SOURCE,
  movableBuffer,
  stopWriter,
  writeAt,
  writerStats,
} from "./file-writer.js";

const MIB = 1024 * 1024;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-file-writer-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function movable(data: Buffer, size = data.length): Buffer {
  const buffer = movableBuffer(size);
  data.copy(buffer);
  return buffer;
}

type WriteSlices = (
  fs: { writeSync(fd: number, data: Buffer, offset: number, length: number, position: number): number },
  fd: number,
  data: Buffer,
  position: number,
  slice: number,
) => void;

/** The thread's own `writeSlices`, run from its source text against a stand-in file system. */
function writeSlicesFromSource(): WriteSlices {
  const context: { writeSlices?: WriteSlices } = {};
  runInNewContext(WRITE_SLICES_SOURCE, context);
  return context.writeSlices!;
}

describe("the file writer thread", () => {
  it("writes at the position asked, in slices, bytes exact, and gives the buffer back", async () => {
    const data = randomBytes(5 * MIB + 777);
    const path = join(dir, "file");
    const handle = await open(path, "wx");
    const cut = 2 * MIB + 3;
    // Written back to front: the position, not the file offset, decides; only `length` bytes go.
    const tail = movable(data.subarray(cut), 6 * MIB);
    const head = movable(data.subarray(0, cut));
    const back = await writeAt(handle.fd, tail, data.length - cut, cut);
    expect(tail.length).toBe(0); // moved to the thread
    expect(back.length).toBe(6 * MIB);
    expect(back.subarray(0, 4).equals(data.subarray(cut, cut + 4))).toBe(true);
    await writeAt(handle.fd, head, cut, 0);
    await handle.close();
    expect((await readFile(path)).equals(data)).toBe(true);
  });

  it("rejects with the file system's error, its code and the buffer, and goes on writing", async () => {
    const path = join(dir, "file");
    await (await open(path, "wx")).close();
    const readOnly = await open(path, "r");
    const error = await writeAt(readOnly.fd, movable(Buffer.from("x")), 1, 0).catch((err: unknown) => err);
    await readOnly.close();
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ code: "EBADF", syscall: "write" });
    expect((error as { buffer: Buffer }).buffer.toString()).toBe("x");
    const handle = await open(path, "w");
    await writeAt(handle.fd, movable(Buffer.from("after")), 5, 0);
    await handle.close();
    expect(await readFile(path, "utf8")).toBe("after");
  });

  it("refuses a buffer whose memory it would take from others, and a length beyond it", () => {
    // Buffer.from uses node's shared pool: moving it would take every small buffer with it.
    expect(() => writeAt(1, Buffer.from("pooled"), 6, 0)).toThrow(/memory of its own/);
    expect(() => writeAt(1, movableBuffer(16).subarray(4), 4, 0)).toThrow(/memory of its own/);
    expect(() => writeAt(1, Buffer.from(new SharedArrayBuffer(8)), 8, 0)).toThrow(/memory of its own/);
    expect(() => writeAt(1, movableBuffer(8), 9, 0)).toThrow(RangeError);
  });

  it("fails the writes pending when the thread dies, and starts a new one for the next", async () => {
    const path = join(dir, "file");
    const handle = await open(path, "wx");
    const pending = writeAt(handle.fd, movableBuffer(128 * MIB), 128 * MIB, 0).catch((err: unknown) => err);
    await stopWriter();
    expect(String(await pending)).toMatch(/file writer thread stopped/);
    await writeAt(handle.fd, movable(Buffer.from("again")), 5, 0);
    await handle.close();
    expect((await readFile(path)).subarray(0, 5).toString()).toBe("again");
  });

  it("settles a thread's writes by that thread alone: one sent to its successor meanwhile completes", async () => {
    const path = join(dir, "file");
    const handle = await open(path, "wx");
    const old = writeAt(handle.fd, movableBuffer(128 * MIB), 128 * MIB, 0).catch((err: unknown) => err);
    const before = writerStats().started;
    const stopping = stopWriter();
    // Sent while the old thread is still stopping: it goes to a new thread, and the old one's
    // exit must not fail it (the file would be closed under a write still running).
    const data = randomBytes(3 * MIB);
    const next = writeAt(handle.fd, movable(data), data.length, 0);
    await stopping;
    expect(String(await old)).toMatch(/file writer thread stopped/);
    await next;
    await handle.close();
    expect((await readFile(path)).subarray(0, data.length).equals(data)).toBe(true);
    expect(writerStats().started).toBe(before + 1);
  });

  it("splits a write into slices of at most SLICE_BYTES and continues short writes", () => {
    const writeSlices = writeSlicesFromSource();
    const file = Buffer.alloc(3 * SLICE_BYTES + 100);
    const calls: number[] = [];
    let call = 0;
    const fs = {
      writeSync(_fd: number, data: Buffer, offset: number, length: number, position: number): number {
        calls.push(length);
        // Every third call accepts only part of what it is given.
        const n = (call += 1) % 3 === 0 ? Math.ceil(length / 3) : length;
        data.copy(file, position, offset, offset + n);
        return n;
      },
    };
    const data = randomBytes(3 * SLICE_BYTES + 90);
    writeSlices(fs, 3, data, 10, SLICE_BYTES);
    expect(file.subarray(10, 10 + data.length).equals(data)).toBe(true);
    // The third call took a third of its slice; the fourth goes on from there.
    const short = Math.ceil(SLICE_BYTES / 3);
    expect(calls).toEqual([SLICE_BYTES, SLICE_BYTES, SLICE_BYTES, data.length - 2 * SLICE_BYTES - short]);
  });

  it("fails a write the file takes nothing of, instead of looping", () => {
    const writeSlices = writeSlicesFromSource();
    const fs = { writeSync: () => 0 };
    expect(() => writeSlices(fs, 3, Buffer.from("data"), 0, SLICE_BYTES)).toThrow(/accepted no bytes/);
  });

  it("keeps a process alive while a write is pending, and lets it exit once idle", async () => {
    // The built module, in a process with nothing else to wait for (`npm test` builds first;
    // run `npm run build` before running this file alone).
    const module = resolve("dist/storage/file-writer.js");
    const path = join(dir, "file");
    const script = [
      `import { open } from "node:fs/promises";`,
      `import { movableBuffer, writeAt } from ${JSON.stringify(module)};`,
      `const handle = await open(${JSON.stringify(path)}, "wx");`,
      `const buffer = movableBuffer(${16 * MIB}).fill(1);`,
      `writeAt(handle.fd, buffer, ${16 * MIB}, 0).then(() => console.log("written"));`,
    ].join("\n");
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
      timeout: 20_000,
    });
    expect(stdout.trim()).toBe("written");
    expect((await stat(path)).size).toBe(16 * MIB);
  });
});
