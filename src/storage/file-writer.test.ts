import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { runInNewContext } from "node:vm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SLICE_BYTES, WRITE_SLICES_SOURCE, sharedBuffer, stopWriter, writeAt } from "./file-writer.js";

const MIB = 1024 * 1024;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-file-writer-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function shared(data: Buffer): Buffer {
  const buffer = sharedBuffer(data.length);
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
  it("writes views of shared buffers at their positions, in slices, bytes exact", async () => {
    const data = randomBytes(5 * MIB + 777);
    const path = join(dir, "file");
    const handle = await open(path, "wx");
    const buffer = shared(data);
    // Two views of one buffer, written back to front: positions, not the file offset, decide.
    const cut = 2 * MIB + 3;
    await writeAt(handle.fd, buffer.subarray(cut), cut);
    await writeAt(handle.fd, buffer.subarray(0, cut), 0);
    await handle.close();
    expect((await readFile(path)).equals(data)).toBe(true);
  });

  it("rejects with the file system's error and its code, and goes on writing after it", async () => {
    const path = join(dir, "file");
    await (await open(path, "wx")).close();
    const readOnly = await open(path, "r");
    const error = await writeAt(readOnly.fd, shared(Buffer.from("x")), 0).catch((err: unknown) => err);
    await readOnly.close();
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ code: "EBADF", syscall: "write" });
    const handle = await open(path, "w");
    await writeAt(handle.fd, shared(Buffer.from("after")), 0);
    await handle.close();
    expect(await readFile(path, "utf8")).toBe("after");
  });

  it("refuses a buffer the thread cannot see", () => {
    expect(() => writeAt(1, Buffer.from("not shared"), 0)).toThrow(/SharedArrayBuffer/);
  });

  it("fails the writes pending when the thread dies, and starts a new one for the next", async () => {
    const path = join(dir, "file");
    const handle = await open(path, "wx");
    const pending = writeAt(handle.fd, sharedBuffer(128 * MIB), 0).catch((err: unknown) => err);
    await stopWriter();
    expect(String(await pending)).toMatch(/file writer thread stopped/);
    await writeAt(handle.fd, shared(Buffer.from("again")), 0);
    await handle.close();
    expect((await readFile(path)).subarray(0, 5).toString()).toBe("again");
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
    // The built module (npm test builds first), in a process with nothing else to wait for.
    const module = resolve("dist/storage/file-writer.js");
    const path = join(dir, "file");
    const script = [
      `import { open } from "node:fs/promises";`,
      `import { sharedBuffer, writeAt } from ${JSON.stringify(module)};`,
      `const handle = await open(${JSON.stringify(path)}, "wx");`,
      `writeAt(handle.fd, sharedBuffer(${16 * MIB}).fill(1), 0).then(() => console.log("written"));`,
    ].join("\n");
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
      timeout: 20_000,
    });
    expect(stdout.trim()).toBe("written");
    expect((await stat(path)).size).toBe(16 * MIB);
  });
});
