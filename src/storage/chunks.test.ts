import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { descriptorsOpenOn } from "../../test/helpers/open-files.js";
import { fileRegionStream } from "../adapters/file-region.js";
import { fixedChunks } from "./chunks.js";

async function sizes(body: Readable | Buffer, size: number): Promise<{ sizes: number[]; joined: Buffer }> {
  const parts: Buffer[] = [];
  for await (const part of fixedChunks(body, size)) parts.push(part);
  return { sizes: parts.map((p) => p.length), joined: Buffer.concat(parts) };
}

describe("fixedChunks", () => {
  const data = Buffer.from(Array.from({ length: 103 }, (_, i) => i));

  it("cuts streams of odd-sized chunks into exact pieces, preserving the bytes", async () => {
    const source = Readable.from([
      data.subarray(0, 7),
      data.subarray(7, 8),
      data.subarray(8, 90),
      data.subarray(90),
    ]);
    const result = await sizes(source, 25);
    expect(result.sizes).toEqual([25, 25, 25, 25, 3]);
    expect(result.joined.equals(data)).toBe(true);
  });

  it("slices buffers without a short last piece when the size divides evenly", async () => {
    expect((await sizes(data.subarray(0, 100), 25)).sizes).toEqual([25, 25, 25, 25]);
  });

  it("yields nothing for an empty body, and accepts string chunks", async () => {
    expect((await sizes(Readable.from([]), 10)).sizes).toEqual([]);
    expect((await sizes(Buffer.alloc(0), 10)).sizes).toEqual([]);
    const text = await sizes(Readable.from(["abc", "defgh"], { objectMode: true }), 4);
    expect(text.sizes).toEqual([4, 4]);
    expect(text.joined.toString()).toBe("abcdefgh");
  });
});

describe("fixedChunks over a file region, into pooled buffers", () => {
  const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) % 251));
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "raas-chunks-"));
    file = join(dir, "data");
    await writeFile(file, bytes);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** Cut with a pool stand-in that counts the buffers handed out. */
  async function cut(body: Readable, size: number) {
    let taken = 0;
    const parts: Buffer[] = [];
    for await (const part of fixedChunks(body, size, (n) => (taken++, Buffer.alloc(n)))) {
      parts.push(Buffer.from(part));
    }
    return { sizes: parts.map((p) => p.length), joined: Buffer.concat(parts), taken };
  }

  it("reads a region straight from the file, never from the stream", async () => {
    const stream = fileRegionStream(file, 100, 450);
    const got = await cut(stream, 200);
    expect(got.sizes).toEqual([200, 200, 50]);
    expect(got.joined.equals(bytes.subarray(100, 550))).toBe(true);
    expect(got.taken).toBe(3);
    expect(stream.readableDidRead).toBe(false);
    expect(stream.destroyed).toBe(true);
  });

  it("reads a whole file to its end, without a spare buffer when it ends on a part boundary", async () => {
    const even = await cut(fileRegionStream(file), 250);
    expect(even.sizes).toEqual([250, 250, 250, 250]);
    expect(even.joined.equals(bytes)).toBe(true);
    expect(even.taken).toBe(4);
    const odd = await cut(fileRegionStream(file, 10), 300);
    expect(odd.sizes).toEqual([300, 300, 300, 90]);
    expect(odd.joined.equals(bytes.subarray(10))).toBe(true);
  });

  it("gives what a file shorter than its region holds, as the stream would", async () => {
    const got = await cut(fileRegionStream(file, 900, 500), 64);
    expect(got.joined.equals(bytes.subarray(900))).toBe(true);
    expect(got.sizes).toEqual([64, 36]);
    const streamed = await sizes(fileRegionStream(file, 900, 500), 64);
    expect(streamed.joined.equals(got.joined)).toBe(true);
    // Cut short on a part boundary, or starting past the end: no buffer taken that stays empty.
    const boundary = await cut(fileRegionStream(file, 900, 500), 50);
    expect(boundary.sizes).toEqual([50, 50]);
    expect(boundary.taken).toBe(2);
    const past = await cut(fileRegionStream(file, 2000, 10), 50);
    expect([past.sizes, past.taken]).toEqual([[], 0]);
  });

  it("closes the file before handing over the last part, so a consumer may stop there", async () => {
    // One at a time: a region stream opens its file as soon as it is made.
    for (const region of [() => fileRegionStream(file, 0, 500), () => fileRegionStream(file, 500)]) {
      const stream = region();
      const parts = fixedChunks(stream, 500, (n) => Buffer.alloc(n));
      const only = await parts.next();
      expect(only.done === false && only.value.length).toBe(500);
      // The consumer never asks for the end (a single-part upload does not). The stream itself,
      // destroyed unread, closes the descriptor it was opening once that open completes.
      if (!stream.closed) await once(stream, "close");
      expect(descriptorsOpenOn(file)).toBe(0);
    }
    const unread = fileRegionStream(file);
    const early = fixedChunks(unread, 100, (n) => Buffer.alloc(n));
    await early.next();
    if (!unread.closed) await once(unread, "close");
    expect(descriptorsOpenOn(file)).toBe(1);
    await early.return(undefined);
    expect(descriptorsOpenOn(file)).toBe(0);
  });

  it("yields nothing for an empty region or an empty file", async () => {
    const empty = join(dir, "empty");
    await writeFile(empty, "");
    expect((await cut(fileRegionStream(empty), 64)).taken).toBe(0);
    expect((await cut(fileRegionStream(empty), 64)).sizes).toEqual([]);
    expect((await cut(fileRegionStream(file, 1000), 64)).sizes).toEqual([]);
    expect((await cut(fileRegionStream(file, 10, 0), 64)).sizes).toEqual([]);
  });

  it("reads a region stream something already read from as a stream, from where it is", async () => {
    const stream = fileRegionStream(file, 0, 600);
    const first: Buffer = await new Promise((resolve) =>
      stream.once("readable", () => resolve(stream.read(10))),
    );
    const rest = await cut(stream, 256);
    expect(Buffer.concat([first, rest.joined]).equals(bytes.subarray(0, 600))).toBe(true);
  });

  it("reports a region whose file is gone as the error it is", async () => {
    await expect(cut(fileRegionStream(join(dir, "missing"), 0, 10), 64)).rejects.toThrow(/ENOENT/);
  });
});
