import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, rm, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeAt, writerStats } from "./file-writer.js";
import { BATCH_BYTES, writeHashed, type WriteBatch } from "./local-write.js";

const MIB = 1024 * 1024;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-local-write-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha = (data: Buffer) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/** `data` as a stream of chunks of the given sizes, cycled (as a socket hands them out). */
function chunked(data: Buffer, sizes: number[]): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    chunks.push(data.subarray(at, at + n));
    at += n;
  }
  return Readable.from(chunks);
}

interface Spy {
  handle: FileHandle;
  /** The batch writer handed to writeHashed: the real writer thread, counted. */
  write: WriteBatch;
  calls: number;
  inFlight: number;
  maxInFlight: number;
  /** Bytes the file has accepted so far. */
  written: number;
}

/**
 * A real file and the real writer thread, with each batch write counted; `slow` delays each,
 * `failAt` fails that call (1-based) with EIO.
 */
async function spyWriter(path: string, options: { slow?: number; failAt?: number } = {}): Promise<Spy> {
  const handle = await open(path, "wx");
  const spy: Spy = {
    handle,
    calls: 0,
    inFlight: 0,
    maxInFlight: 0,
    written: 0,
    write: async (buffer, length, position) => {
      spy.calls += 1;
      spy.inFlight += 1;
      spy.maxInFlight = Math.max(spy.maxInFlight, spy.inFlight);
      try {
        if (options.slow !== undefined) await sleep(options.slow);
        if (spy.calls === options.failAt) {
          throw Object.assign(new Error("EIO: i/o error, write"), { code: "EIO" });
        }
        const back = await writeAt(handle.fd, buffer, length, position);
        spy.written += length;
        return back;
      } finally {
        spy.inFlight -= 1;
      }
    },
  };
  return spy;
}

describe("writeHashed (the local store's write)", () => {
  it("writes small socket-sized chunks in batches: one write per batch, bytes and digest exact", async () => {
    const data = randomBytes(5 * MIB + 12_345);
    const path = join(dir, "object");
    const spy = await spyWriter(path);
    // Odd sizes, and one larger than a batch, so chunks straddle the batch boundaries.
    const result = await writeHashed(
      spy.handle,
      chunked(data, [20_000, 41_111, 1000, BATCH_BYTES + 7, 65_536]),
      undefined,
      spy.write,
    );
    await spy.handle.close();
    expect(result).toEqual({ digest: sha(data), size: data.length });
    expect((await readFile(path)).equals(data)).toBe(true);
    // A write per chunk would be hundreds of calls.
    expect(spy.calls).toBe(Math.ceil(data.length / BATCH_BYTES));
    expect(spy.maxInFlight).toBe(1);
  });

  it("holds a fast body back behind a slow disk: memory stays within two batches and the buffer", async () => {
    const total = 12 * MIB;
    const chunk = Buffer.alloc(64 * 1024, 7);
    let produced = 0;
    let worst = 0;
    const path = join(dir, "object");
    const spy = await spyWriter(path, { slow: 15 });
    // Produces only when asked (as a socket paused by backpressure); records how far it got ahead
    // of what the file has accepted.
    const body = new Readable({
      read() {
        worst = Math.max(worst, produced - spy.written);
        if (produced >= total) return this.push(null);
        produced += chunk.length;
        this.push(chunk);
      },
    });
    const result = await writeHashed(spy.handle, body, undefined, spy.write);
    await spy.handle.close();
    expect(result.size).toBe(total);
    expect(spy.maxInFlight).toBe(1);
    // Two batches (one being written, one filling), the writable's buffer (256 KiB), the
    // readable's own buffer (16 KiB) and a chunk on its way.
    expect(worst).toBeLessThanOrEqual(2 * BATCH_BYTES + 256 * 1024 + 16 * 1024 + 2 * chunk.length);
    expect(worst).toBeGreaterThan(BATCH_BYTES);
  });

  it("fails with the disk's error, and only once no write is running on the file", async () => {
    const data = randomBytes(4 * MIB);
    const spy = await spyWriter(join(dir, "object"), { failAt: 2, slow: 5 });
    await expect(writeHashed(spy.handle, chunked(data, [65_536]), undefined, spy.write)).rejects.toThrow(
      /EIO/,
    );
    expect(spy.inFlight).toBe(0);
    // Nothing was started after the failure.
    expect(spy.calls).toBe(2);
    await spy.handle.close();
  });

  it("fails with the body's error, and only once no write is running on the file", async () => {
    const spy = await spyWriter(join(dir, "object"), { slow: 20 });
    const chunk = randomBytes(256 * 1024);
    const body = Readable.from(
      (async function* () {
        for (let i = 0; i < 6; i++) {
          yield chunk;
          await sleep(1);
        }
        throw new Error("the client went away");
      })(),
    );
    await expect(writeHashed(spy.handle, body, undefined, spy.write)).rejects.toThrow(/the client went away/);
    expect(spy.inFlight).toBe(0);
    await spy.handle.close();
  });

  it("writes a Buffer body (metadata) directly, without the writer thread", async () => {
    const data = randomBytes(3 * MIB);
    const path = join(dir, "object");
    const spy = await spyWriter(path);
    expect(await writeHashed(spy.handle, data, undefined, spy.write)).toEqual({
      digest: sha(data),
      size: data.length,
    });
    await spy.handle.close();
    expect(spy.calls).toBe(0);
    expect((await readFile(path)).equals(data)).toBe(true);
  });

  it("writes through the process's writer thread by default", async () => {
    const data = randomBytes(3 * MIB + 5);
    const path = join(dir, "object");
    const handle = await open(path, "wx");
    const sent = writerStats().sent;
    const result = await writeHashed(handle, chunked(data, [40_000]));
    await handle.close();
    expect(result).toEqual({ digest: sha(data), size: data.length });
    expect((await readFile(path)).equals(data)).toBe(true);
    expect(writerStats().sent - sent).toBe(Math.ceil(data.length / BATCH_BYTES));
  });

  it("fails with the file system's error, without the pooled buffer hanging off it", async () => {
    const path = join(dir, "object");
    await (await open(path, "wx")).close();
    const readOnly = await open(path, "r");
    const error = await writeHashed(
      readOnly,
      chunked(randomBytes(2 * MIB), [65_536]),
      undefined,
      (b, n, at) => writeAt(readOnly.fd, b, n, at),
    ).catch((err: unknown) => err);
    await readOnly.close();
    expect(error).toMatchObject({ code: "EBADF" });
    expect(error).not.toHaveProperty("buffer");
  });

  it("fails with a batch writer's synchronous throw instead of throwing out of the stream", async () => {
    const handle = await open(join(dir, "object"), "wx");
    const error = await writeHashed(handle, chunked(randomBytes(2 * MIB), [65_536]), undefined, () => {
      throw new RangeError("no such batch");
    }).catch((err: unknown) => err);
    await handle.close();
    expect(error).toBeInstanceOf(RangeError);
  });
});
