/**
 * Upload sessions on S3 (s3rver on loopback): the parts of a chunked upload go into one S3
 * multipart upload, chunks under the 5 MiB part minimum wait in storage, a second process (its
 * own store and client) continues a session, and a wrong digest or a cancel leaves nothing
 * visible. s3rver answers AbortMultipartUpload with 405 (test/helpers/s3rver.ts), so the abort
 * is proven by the request leaving the client with the session's upload id.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { UPLOADS_PREFIX } from "../../src/storage/upload-keys.js";
import {
  PART_SIZE,
  REWRITE_RATIO,
  SmallChunksError,
  UploadSessions,
} from "../../src/server/upload-sessions.js";
import { S3Store } from "../../src/storage/s3.js";
import { DigestMismatchError } from "../../src/storage/types.js";
import type { Digest } from "../../src/image/digest.js";
import { startS3rver, type RunningS3rver } from "../helpers/s3rver.js";

const MIB = 1024 * 1024;
const LIMIT = 200 * MIB;
let s3: RunningS3rver;
const stores: S3Store[] = [];

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ["raas"] });
});
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});
afterAll(async () => {
  await s3.stop();
});

interface Sent {
  command: string;
  uploadId?: string;
  partNumber?: number;
  size?: number;
  key?: string;
}

/** A store of its own (as another worker or replica has), recording the S3 requests it makes. */
function replica(): { store: S3Store; sent: Sent[]; sessions: UploadSessions; warnings: string[] } {
  const store = new S3Store({ bucket: "raas", endpoint: s3.endpoint, credentials: s3.credentials });
  stores.push(store);
  const sent: Sent[] = [];
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { UploadId?: string; PartNumber?: number; Body?: unknown; Key?: string };
      sent.push({
        command: context.commandName ?? "",
        ...(input.UploadId === undefined ? {} : { uploadId: input.UploadId }),
        ...(input.PartNumber === undefined ? {} : { partNumber: input.PartNumber }),
        ...(Buffer.isBuffer(input.Body) ? { size: input.Body.length } : {}),
        ...(input.Key === undefined ? {} : { key: input.Key }),
      });
      return next(args);
    },
    { step: "initialize", name: "recordCommands" },
  );
  const warnings: string[] = [];
  return { store, sent, sessions: new UploadSessions(store, LIMIT, (m) => warnings.push(m)), warnings };
}

const sha = (b: Buffer): Digest => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const bytes = (size: number, seed: number) => {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) out.writeUInt32BE((i * 2654435761 + seed) >>> 0, i);
  return out;
};
/** A streamed body in 64 KiB pieces (as a request arrives), never one Buffer. */
const body = (b: Buffer) =>
  Readable.from(
    (function* () {
      for (let i = 0; i < b.length; i += 64 * 1024) yield b.subarray(i, i + 64 * 1024);
    })(),
  );

async function keysUnder(store: S3Store, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list(prefix)) keys.push(object.key);
  return keys;
}

describe("upload sessions on S3", () => {
  it("cuts chunks into multipart parts, keeps chunks under 5 MiB in storage, and another process finishes", async () => {
    const a = replica();
    const b = replica();
    const blob = Buffer.concat([bytes(1 * MIB, 1), bytes(2 * MIB, 2), bytes(11 * MIB, 3), bytes(3 * MIB, 4)]);
    const id = await a.sessions.start("acme-big", new Date());

    // Two chunks under the part minimum: no part yet, the bytes wait in a pending object.
    let state = (await a.sessions.current(id, "acme-big"))!;
    state = await a.sessions.append(id, state, body(blob.subarray(0, 1 * MIB)));
    state = await a.sessions.append(id, state, body(blob.subarray(1 * MIB, 3 * MIB)));
    expect(state.offset).toBe(3 * MIB);
    expect(state.multipart).toBeUndefined();
    expect(state.pending?.size).toBe(3 * MIB);
    expect(a.sent.filter((s) => s.command === "UploadPartCommand")).toEqual([]);
    // Only the newest pending object is kept.
    expect((await keysUnder(a.store, `${UPLOADS_PREFIX}${id}/pending-`)).length).toBe(1);

    // An 11 MiB chunk: with the 3 MiB waiting, one full part is cut and the 6 MiB left is a part too.
    state = await a.sessions.append(id, state, body(blob.subarray(3 * MIB, 14 * MIB)), 11 * MIB);
    expect(state.offset).toBe(14 * MIB);
    expect(state.pending).toBeUndefined();
    expect(state.multipart?.parts.map((p) => p.size)).toEqual([PART_SIZE, 14 * MIB - PART_SIZE]);
    expect(await keysUnder(a.store, `${UPLOADS_PREFIX}${id}/pending-`)).toEqual([]);

    // Another process (own client, nothing shared but storage) continues from the stored state.
    const resumed = (await b.sessions.current(id, "acme-big"))!;
    expect(resumed).toEqual(state);
    const key = `acme-big/blobs/${sha(blob)}`;
    await b.sessions.finish(id, resumed, body(blob.subarray(14 * MIB)), { key, digest: sha(blob) });

    expect(sha(await a.store.getBuffer(key))).toBe(sha(blob));
    const parts = [...a.sent, ...b.sent].filter((s) => s.command === "UploadPartCommand");
    expect(parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
    // Every part but the last meets S3's minimum, and none is larger than one part buffer.
    for (const part of parts.slice(0, -1)) expect(part.size).toBeGreaterThanOrEqual(5 * MIB);
    for (const part of parts) expect(part.size).toBeLessThanOrEqual(PART_SIZE);
    // The multipart upload targets the staging key, never the blob's; the blob is a server-side copy.
    const complete = b.sent.find((s) => s.command === "CompleteMultipartUploadCommand");
    expect(complete?.key).toBe(`${UPLOADS_PREFIX}${id}/blob`);
    expect(b.sent.some((s) => s.command === "CopyObjectCommand" && s.key === key)).toBe(true);
    expect(await keysUnder(a.store, `${UPLOADS_PREFIX}${id}/`)).toEqual([]);
    expect(await b.sessions.current(id, "acme-big")).toBeUndefined();
  }, 120_000);

  it("a blob smaller than a part is one verified PutObject, no multipart upload", async () => {
    const a = replica();
    const blob = bytes(300 * 1024, 9);
    const id = await a.sessions.start("acme-small", new Date());
    let state = (await a.sessions.current(id, "acme-small"))!;
    state = await a.sessions.append(id, state, body(blob.subarray(0, 100 * 1024)));
    const key = `acme-small/blobs/${sha(blob)}`;
    await a.sessions.finish(id, state, body(blob.subarray(100 * 1024)), { key, digest: sha(blob) });
    expect(sha(await a.store.getBuffer(key))).toBe(sha(blob));
    expect(a.sent.some((s) => s.command === "CreateMultipartUploadCommand")).toBe(false);
    expect(await keysUnder(a.store, `${UPLOADS_PREFIX}${id}/`)).toEqual([]);
  });

  it("tiny chunks rewrite pending bytes only up to a bounded multiple of what was sent, then are refused", async () => {
    const a = replica();
    const slack = 1 * MIB;
    const sessions = new UploadSessions(a.store, LIMIT, () => undefined, slack);
    expect(sessions.minChunkLength).toBe(5 * MIB);
    const chunk = 16 * 1024;
    const blob = bytes(2 * MIB, 11);
    const id = await sessions.start("acme-tiny", new Date());
    let state = (await sessions.current(id, "acme-tiny"))!;
    let refused: unknown;
    while (state.offset < blob.length) {
      try {
        state = await sessions.append(id, state, body(blob.subarray(state.offset, state.offset + chunk)));
      } catch (err) {
        refused = err;
        break;
      }
    }
    expect(refused).toBeInstanceOf(SmallChunksError);
    expect((refused as SmallChunksError).minimum).toBe(5 * MIB);
    // Refused well before the 2 MiB were sent, with the pending bytes written again at most
    // about the slack plus REWRITE_RATIO times what was received, plus one pending object.
    expect(state.offset).toBeLessThan(blob.length);
    const pendingWrites = a.sent.filter(
      (s) => s.command === "PutObjectCommand" && s.key?.includes("/pending-"),
    );
    expect(pendingWrites.length).toBeGreaterThan(10);
    const written = pendingWrites.reduce((t, s) => t + (s.size ?? 0), 0);
    expect(written).toBeLessThanOrEqual(slack + REWRITE_RATIO * state.offset + 2 * state.offset);
    // The session is still whole: the rest in the closing request completes the blob.
    const key = `acme-tiny/blobs/${sha(blob)}`;
    await sessions.finish(id, state, body(blob.subarray(state.offset)), { key, digest: sha(blob) });
    expect(sha(await a.store.getBuffer(key))).toBe(sha(blob));
  }, 120_000);

  it("a wrong digest makes nothing visible, aborts the multipart upload and ends the session", async () => {
    const a = replica();
    const blob = bytes(9 * MIB, 5);
    const id = await a.sessions.start("acme-wrong", new Date());
    let state = (await a.sessions.current(id, "acme-wrong"))!;
    state = await a.sessions.append(id, state, body(blob));
    const uploadId = state.multipart?.uploadId;
    expect(uploadId).toBeDefined();
    const claimed = sha(Buffer.from("something else"));
    const key = `acme-wrong/blobs/${claimed}`;
    await expect(
      a.sessions.finish(id, state, body(Buffer.alloc(0)), { key, digest: claimed }),
    ).rejects.toThrow(DigestMismatchError);
    expect(await a.store.head(key)).toBeUndefined();
    expect(await keysUnder(a.store, "acme-wrong/")).toEqual([]);
    expect(await keysUnder(a.store, `${UPLOADS_PREFIX}${id}/`)).toEqual([]);
    expect(a.sent.some((s) => s.command === "CompleteMultipartUploadCommand")).toBe(false);
    expect(a.sent.filter((s) => s.command === "AbortMultipartUploadCommand").map((s) => s.uploadId)).toEqual([
      uploadId,
    ]);
    expect(await a.sessions.current(id, "acme-wrong")).toBeUndefined();
  }, 60_000);

  it("cancel aborts the multipart upload and removes every object of the session", async () => {
    const a = replica();
    const id = await a.sessions.start("acme-cancel", new Date());
    let state = (await a.sessions.current(id, "acme-cancel"))!;
    state = await a.sessions.append(id, state, body(bytes(10 * MIB, 6)));
    state = await a.sessions.append(id, state, body(bytes(1 * MIB, 7)));
    expect(state.pending).toBeDefined();
    await a.sessions.remove(id, state);
    expect(await keysUnder(a.store, `${UPLOADS_PREFIX}${id}/`)).toEqual([]);
    expect(a.sent.filter((s) => s.command === "AbortMultipartUploadCommand").map((s) => s.uploadId)).toEqual([
      state.multipart?.uploadId,
    ]);
    // s3rver refuses the abort (405); the session is gone all the same and the refusal is reported.
    expect(a.warnings.join("\n")).toMatch(/aborting multipart upload failed/);
  }, 60_000);
});

describe("upload sessions draw part buffers from the store's part budget", () => {
  it("many concurrent PATCHes never hold more part buffers than the budget; every blob is whole", async () => {
    // Two slots of 16 MiB: the sessions may hold one at a time, the other stays for store writes.
    const store = new S3Store({
      bucket: "raas",
      endpoint: s3.endpoint,
      credentials: s3.credentials,
      concurrency: 2,
      partSize: 16 * MIB,
    });
    stores.push(store);
    const budget = store.multipart.budget!;
    const sessions = new UploadSessions(store, LIMIT);
    const uploads = Array.from({ length: 6 }, (_, i) => ({
      data: Buffer.concat([bytes(9 * MIB, 10 + i), bytes(2 * MIB, 20 + i)]),
      repository: `acme-budget-${i}`,
    }));
    await Promise.all(
      uploads.map(async (u) => {
        const id = await sessions.start(u.repository, new Date());
        let state = (await sessions.current(id, u.repository))!;
        // 9 MiB: one 8 MiB part sent, 1 MiB pending; then 2 MiB more and completion.
        state = await sessions.append(id, state, body(u.data.subarray(0, 9 * MIB)));
        await sessions.finish(id, state, body(u.data.subarray(9 * MIB)), {
          key: `${u.repository}/blobs/${sha(u.data)}`,
          digest: sha(u.data),
        });
      }),
    );
    const stats = budget.stats();
    // Every PATCH and PUT took a slot (12 requests), never more than the budget at once, and
    // the sessions never held the slot reserved for the store's own writes.
    expect(stats.acquired).toBeGreaterThanOrEqual(12);
    expect(stats.peak).toBeLessThanOrEqual(stats.slots);
    expect(stats.sharedPeak).toBe(stats.slots - 1);
    expect(stats.inUse).toBe(0);
    // Buffers are reused from the pool (a few spares), not allocated per request.
    expect(stats.allocated).toBeLessThanOrEqual(stats.slots + 4);
    for (const u of uploads) {
      const stored = await store.getBuffer(`${u.repository}/blobs/${sha(u.data)}`);
      expect(sha(stored)).toBe(sha(u.data));
    }
  }, 180_000);
});
