/**
 * Memory stays bounded however many blobs upload at once: an S3Store shares its part slots
 * between all its uploads, so at most `concurrency` part buffers are on the wire together
 * (counted at the fault proxy), and the objects still arrive whole. The part buffers come from
 * a pool and are reused, so a long upload does not leave a trail of garbage buffers.
 */
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixedChunks } from "../../src/storage/chunks.js";
import { S3Store } from "../../src/storage/s3.js";
import { PartSlots } from "../../src/storage/s3-upload.js";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.js";
import { startS3rver, type RunningS3rver } from "../helpers/s3rver.js";

const MIB = 1024 * 1024;

describe("S3Store part slots", () => {
  let s3: RunningS3rver;
  let proxy: FaultProxy;

  beforeAll(async () => {
    s3 = await startS3rver({ buckets: ["slots"] });
    // A little latency per request, so that parts of different blobs really overlap.
    proxy = await startFaultProxy({ target: s3.endpoint, delayMs: 30 });
  });

  afterAll(async () => {
    await proxy?.stop();
    await s3?.stop();
  });

  it("keeps at most `concurrency` parts in flight across four concurrent multipart uploads", async () => {
    const store = new S3Store({
      bucket: "slots",
      endpoint: proxy.endpoint,
      credentials: s3.credentials,
      partSize: 5 * MIB,
      concurrency: 2,
    });
    try {
      const blobs = Array.from({ length: 4 }, () => randomBytes(16 * MIB));
      const digest = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}` as const;
      proxy.resetStats();
      await Promise.all(
        blobs.map((bytes, i) =>
          // Streams, as archives are read: the store cuts them into parts itself.
          store.put(`b/${i}`, Readable.from([bytes.subarray(0, 7 * MIB), bytes.subarray(7 * MIB)]), {
            digest: digest(bytes),
            size: bytes.length,
          }),
        ),
      );
      const stats = proxy.stats();
      expect(stats.byMethod.PUT).toBeGreaterThanOrEqual(16);
      expect(stats.maxPutsInFlight).toBeLessThanOrEqual(2);
      for (const [i, bytes] of blobs.entries()) {
        expect(digest(await store.getBuffer(`b/${i}`))).toBe(digest(bytes));
      }
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe("PartSlots buffer pool", () => {
  it("cuts a stream into pooled buffers, reuses them once given back, and never pools a caller's buffer", async () => {
    const slots = new PartSlots(2, 1000);
    const data = randomBytes(4500);
    const parts: Buffer[] = [];
    const seen = new Set<ArrayBufferLike>();
    const source = Readable.from([data.subarray(0, 700), data.subarray(700, 2600), data.subarray(2600)]);
    for await (const part of fixedChunks(source, 1000, (n) => slots.take(n))) {
      parts.push(Buffer.from(part)); // copy: the pooled buffer is reused below
      seen.add(part.buffer);
      slots.give(part);
    }
    expect(parts.map((p) => p.length)).toEqual([1000, 1000, 1000, 1000, 500]);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    // Given back after each part, one buffer served all five.
    expect(seen.size).toBe(1);
    const own = Buffer.allocUnsafeSlow(1000);
    slots.give(own);
    expect(slots.take(1000).buffer).not.toBe(own.buffer);
  });
});
