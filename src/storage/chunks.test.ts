import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
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
