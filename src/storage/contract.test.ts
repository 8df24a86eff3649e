/**
 * The BlobStore contract, run against both implementations: a real temp directory and a real
 * S3-protocol server (s3rver) on 127.0.0.1.
 */
import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { startS3rver, type RunningS3rver } from "../../test/helpers/s3rver.js";
import { sha256Digest } from "../image/digest.js";
import { LocalStore } from "./local.js";
import { S3Store } from "./s3.js";
import {
  DigestMismatchError,
  ObjectNotFoundError,
  PARTIAL_WRITE_GRACE_MS,
  PROBE_PREFIX,
  type BlobStore,
} from "./types.js";

interface Harness {
  store: BlobStore;
  /** A store of the same kind whose container (directory, bucket) does not exist yet. */
  fresh(): BlobStore;
  /** Leave a probe object behind as a setup killed mid-probe does (bypassing the store's guard). */
  plantProbe(name: string): Promise<void>;
  /** Leave a partial write as a push killed mid-write does; undefined where the kind has none. */
  plantPartial?: (ageMs: number) => Promise<void>;
  cleanup(): Promise<void>;
}

let s3rver: RunningS3rver;
let bucketCounter = 0;

beforeAll(async () => {
  s3rver = await startS3rver();
});
afterAll(async () => {
  await s3rver.stop();
});

const factories: [string, () => Promise<Harness>][] = [
  [
    "LocalStore",
    async () => {
      const root = await mkdtemp(join(tmpdir(), "raas-local-"));
      const store = new LocalStore(join(root, "store"));
      await store.create();
      let partials = 0;
      return {
        store,
        fresh: () => new LocalStore(join(root, "fresh")),
        plantProbe: async (name) => {
          await mkdir(join(store.root, PROBE_PREFIX), { recursive: true });
          await writeFile(join(store.root, PROBE_PREFIX, name), "left behind");
        },
        plantPartial: async (ageMs) => {
          const file = join(store.root, ".tmp", `partial-${++partials}`);
          await mkdir(join(store.root, ".tmp"), { recursive: true });
          await writeFile(file, "half a layer");
          const when = new Date(Date.now() - ageMs);
          await utimes(file, when, when);
        },
        cleanup: () => rm(root, { recursive: true, force: true }),
      };
    },
  ],
  [
    "S3Store",
    async () => {
      bucketCounter += 1;
      const store = new S3Store({
        bucket: `contract-${bucketCounter}`,
        endpoint: s3rver.endpoint,
        credentials: s3rver.credentials,
        maxAttempts: 2,
      });
      await store.createBucket();
      const fresh: S3Store[] = [];
      return {
        store,
        fresh: () => {
          const other = new S3Store({
            bucket: `contract-fresh-${bucketCounter}`,
            endpoint: s3rver.endpoint,
            credentials: s3rver.credentials,
            maxAttempts: 2,
          });
          fresh.push(other);
          return other;
        },
        plantProbe: async (name) => {
          await store.client.send(
            new PutObjectCommand({
              Bucket: store.bucket,
              Key: `${PROBE_PREFIX}${name}`,
              Body: "left behind",
            }),
          );
        },
        cleanup: async () => {
          for (const other of fresh) await other.close();
          await store.close();
          await store.close();
        },
      };
    },
  ],
];

async function keys(store: BlobStore, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const object of store.list(prefix)) found.push(object.key);
  return found;
}

async function sortedKeys(store: BlobStore, prefix: string): Promise<string[]> {
  return (await keys(store, prefix)).sort();
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const BLOB = Buffer.from("layer bytes\n".repeat(1000));
const BLOB_DIGEST = sha256Digest(BLOB);
const BLOB_KEY = `app/blobs/${BLOB_DIGEST}`;

describe.each(factories)("%s (BlobStore contract)", (_name, factory) => {
  let harness: Harness;
  let store: BlobStore;
  beforeEach(async () => {
    harness = await factory();
    store = harness.store;
  });
  afterEach(async () => {
    await harness.cleanup();
  });

  it("round-trips a buffer with its content type, digest and size", async () => {
    const result = await store.put(BLOB_KEY, BLOB, {
      contentType: "application/octet-stream",
      digest: BLOB_DIGEST,
      size: BLOB.length,
    });
    expect(result).toEqual({ digest: BLOB_DIGEST, size: BLOB.length });
    expect(await store.head(BLOB_KEY)).toEqual({
      size: BLOB.length,
      contentType: "application/octet-stream",
      lastModified: expect.any(Date),
    });
    expect((await store.getBuffer(BLOB_KEY)).equals(BLOB)).toBe(true);
    expect((await readAll(await store.get(BLOB_KEY))).equals(BLOB)).toBe(true);
  });

  it("round-trips a stream, keys with sha256: and other allowed characters, and empty objects", async () => {
    const manifest = Buffer.from('{"schemaVersion":2}');
    const key = "app/manifests/2/v1.0+build=7@x";
    const stream = Readable.from([manifest.subarray(0, 5), manifest.subarray(5)]);
    expect(
      await store.put(key, stream, { contentType: "application/vnd.docker.distribution.manifest.v2+json" }),
    ).toEqual({ digest: sha256Digest(manifest), size: manifest.length });
    expect((await store.head(key))?.contentType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect((await store.getBuffer(key)).toString()).toBe(manifest.toString());

    await store.put("app/empty", Buffer.alloc(0));
    expect((await store.head("app/empty"))?.size).toBe(0);
    expect((await store.getBuffer("app/empty")).length).toBe(0);
  });

  it("reports missing objects: head undefined, get and getBuffer ObjectNotFoundError", async () => {
    expect(await store.head("app/blobs/missing")).toBeUndefined();
    await expect(store.get("app/blobs/missing")).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.getBuffer("app/blobs/missing")).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it("leaves nothing at the key on a digest mismatch", async () => {
    const wrong = sha256Digest("something else");
    const error = await store.put(BLOB_KEY, BLOB, { digest: wrong }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(DigestMismatchError);
    expect((error as DigestMismatchError).actual).toEqual({ digest: BLOB_DIGEST, size: BLOB.length });
    expect(await store.head(BLOB_KEY)).toBeUndefined();
    expect(await keys(store, "")).toEqual([]);
  });

  it("leaves nothing at the key on a size mismatch, from a stream", async () => {
    const error = await store
      .put(BLOB_KEY, Readable.from([BLOB]), { digest: BLOB_DIGEST, size: BLOB.length + 1 })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(DigestMismatchError);
    expect(await store.head(BLOB_KEY)).toBeUndefined();
    expect(await keys(store, "")).toEqual([]);
  });

  it("keeps the previous object when a mismatching write to the same key fails", async () => {
    await store.put("app/tags/list", Buffer.from("old"));
    await expect(store.put("app/tags/list", Buffer.from("new"), { size: 99 })).rejects.toBeInstanceOf(
      DigestMismatchError,
    );
    expect((await store.getBuffer("app/tags/list")).toString()).toBe("old");
  });

  // Real S3 lists in UTF-8 byte order (LocalStore too, see local.test.ts); s3rver lists in
  // filesystem-walk order, so the shared contract compares sorted copies.
  it("lists keys under a prefix, recursively, with sizes", async () => {
    for (const key of [
      "b/x",
      "a/blobs/sha256:2",
      "a/blobs/sha256:1",
      "a/manifests/list/latest",
      "a-b/c",
      "a/tags/list",
    ]) {
      await store.put(key, Buffer.from(key));
    }
    expect(await sortedKeys(store, "a/")).toEqual([
      "a/blobs/sha256:1",
      "a/blobs/sha256:2",
      "a/manifests/list/latest",
      "a/tags/list",
    ]);
    expect(await sortedKeys(store, "a/blo")).toEqual(["a/blobs/sha256:1", "a/blobs/sha256:2"]);
    expect(await sortedKeys(store, "")).toEqual([
      "a-b/c",
      "a/blobs/sha256:1",
      "a/blobs/sha256:2",
      "a/manifests/list/latest",
      "a/tags/list",
      "b/x",
    ]);
    expect(await keys(store, "nothing/")).toEqual([]);
    const listed = [];
    for await (const object of store.list("b/")) listed.push(object);
    expect(listed).toEqual([{ key: "b/x", size: 3, lastModified: expect.any(Date) }]);
  });

  it("reports when each object was last written, in head and list, and a rewrite moves it forward", async () => {
    // S3 dates have second precision: compare against whole seconds around the write.
    const floor = (ms: number) => Math.floor(ms / 1000) * 1000;
    const before = floor(Date.now());
    await store.put("t/blobs/old", Buffer.from("old"));
    const after = Date.now() + 1000;
    const head = await store.head("t/blobs/old");
    expect(head?.lastModified).toBeInstanceOf(Date);
    expect(head?.lastModified?.getTime()).toBeGreaterThanOrEqual(before);
    expect(head?.lastModified?.getTime()).toBeLessThanOrEqual(after);
    const listed = [];
    for await (const object of store.list("t/")) listed.push(object);
    expect(listed.map((o) => o.key)).toEqual(["t/blobs/old"]);
    expect(floor(listed[0]?.lastModified.getTime() ?? 0)).toBe(floor(head?.lastModified?.getTime() ?? -1));

    await new Promise((resolve) => setTimeout(resolve, 1100));
    await store.put("t/blobs/old", Buffer.from("old"));
    const rewritten = await store.head("t/blobs/old");
    expect(rewritten?.lastModified?.getTime()).toBeGreaterThan(head?.lastModified?.getTime() ?? Infinity);
  });

  it("deletes objects; deleting a missing key is fine", async () => {
    await store.put("app/tags/list", Buffer.from("x"), { contentType: "application/json" });
    await store.delete("app/tags/list");
    expect(await store.head("app/tags/list")).toBeUndefined();
    expect(await keys(store, "app/")).toEqual([]);
    await store.delete("app/tags/list");
    await store.delete("never/was");
  });

  it("copies objects with their content type, or a replaced one", async () => {
    await store.put("app/manifests/2/latest", Buffer.from("manifest"), { contentType: "application/json" });
    await store.copy("app/manifests/2/latest", "app/manifests/2/v1");
    expect(await store.head("app/manifests/2/v1")).toEqual({
      size: 8,
      contentType: "application/json",
      lastModified: expect.any(Date),
    });
    expect((await store.getBuffer("app/manifests/2/v1")).toString()).toBe("manifest");
    await store.copy("app/manifests/2/latest", "other/copy", { contentType: "text/plain" });
    expect((await store.head("other/copy"))?.contentType).toBe("text/plain");
    await expect(store.copy("app/missing", "app/to")).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await store.head("app/to")).toBeUndefined();
  });

  it("a copy whose source is deleted meanwhile fails as not found, never otherwise", async () => {
    // A push refreshing a blob while gc deletes it: the push must see "gone" and upload it again.
    for (let i = 0; i < 30; i++) {
      await store.put(`race/src-${i}`, Buffer.alloc(64 * 1024, i));
      const [copied] = await Promise.allSettled([
        store.copy(`race/src-${i}`, `race/dst-${i}`),
        new Promise((r) => setTimeout(r, i % 3)).then(() => store.delete(`race/src-${i}`)),
      ]);
      if (copied.status === "rejected") expect(copied.reason).toBeInstanceOf(ObjectNotFoundError);
    }
  });

  it("rejects unsafe keys before touching storage", async () => {
    const unsafe = [
      "",
      "/abs",
      "a//b",
      "../x",
      "a/../../b",
      "a/./b",
      "a/b/",
      "a b",
      "a/\u00e9",
      "a\\b",
      "a/%2e%2e",
    ];
    for (const key of unsafe) {
      await expect(store.head(key), key).rejects.toThrow(/unsafe storage key/);
      await expect(store.put(key, Buffer.from("x")), key).rejects.toThrow(/unsafe storage key/);
      await expect(store.get(key), key).rejects.toThrow(/unsafe storage key/);
      await expect(store.delete(key), key).rejects.toThrow(/unsafe storage key/);
      await expect(store.copy("ok", key), key).rejects.toThrow(/unsafe storage key/);
    }
    await expect(keys(store, "../")).rejects.toThrow(/unsafe storage key/);
    expect(await keys(store, "")).toEqual([]);
  });

  it("lets concurrent puts of the same content-addressed key all succeed", async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        store.put(BLOB_KEY, Readable.from([BLOB]), { digest: BLOB_DIGEST, size: BLOB.length }),
      ),
    );
    expect(results.every((r) => r.digest === BLOB_DIGEST)).toBe(true);
    expect(sha256Digest(await store.getBuffer(BLOB_KEY))).toBe(BLOB_DIGEST);
    expect(await keys(store, "")).toEqual([BLOB_KEY]);
  });

  it("keeps every put whose sibling under the same prefix is deleted meanwhile", async () => {
    // Deleting a key must not disturb another key with the same prefix, however the store lays
    // keys out (a store that removes emptied directories races a put into the same one).
    for (let round = 0; round < 40; round += 1) {
      const doomed = `race/${round}/tags/old`;
      const kept = `race/${round}/tags/list`;
      await store.put(doomed, Readable.from([Buffer.from("old")]));
      await Promise.all([
        store.delete(doomed),
        store.put(kept, Readable.from([Buffer.from(`list ${round}`)])),
      ]);
      expect((await store.getBuffer(kept)).toString()).toBe(`list ${round}`);
    }
    expect((await keys(store, "race/")).length).toBe(40);
  });

  it("reports progress up to the full size", async () => {
    const seen: number[] = [];
    await store.put(BLOB_KEY, Readable.from([BLOB.subarray(0, 100), BLOB.subarray(100)]), {
      onProgress: (bytes) => seen.push(bytes),
    });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toBe(BLOB.length);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  });

  it("probes successfully and leaves nothing behind", async () => {
    await store.probe();
    expect(await keys(store, "")).toEqual([]);
  });

  it("tells whether its container exists, creates it, and creating it again is fine", async () => {
    const fresh = harness.fresh();
    expect(await fresh.exists()).toBe(false);
    expect(fresh.container).toMatch(/^the (S3 bucket|directory) /);
    await fresh.create();
    expect(await fresh.exists()).toBe(true);
    await fresh.create();
    await fresh.put("app/x", Buffer.from("x"));
    expect(await keys(fresh, "")).toEqual(["app/x"]);
    expect(await store.exists()).toBe(true);
  });

  it("reserves the probe prefix: no object operation reaches it, list does not show it", async () => {
    const key = `${PROBE_PREFIX}mine`;
    await expect(store.put(key, Buffer.from("x"))).rejects.toThrow(/reserved/);
    await expect(store.head(key)).rejects.toThrow(/reserved/);
    await expect(store.get(key)).rejects.toThrow(/reserved/);
    await expect(store.delete(key)).rejects.toThrow(/reserved/);
    await expect(store.copy(BLOB_KEY, key)).rejects.toThrow(/reserved/);
    await harness.plantProbe("planted");
    await store.put(BLOB_KEY, BLOB);
    expect(await keys(store, "")).toEqual([BLOB_KEY]);
  });

  it("finds and removes probe objects an interrupted probe left, then probes again", async () => {
    expect(await store.leftoverProbes()).toEqual([]);
    await harness.plantProbe("interrupted-1");
    await harness.plantProbe("interrupted-2");
    expect(await store.leftoverProbes()).toEqual([
      `${PROBE_PREFIX}interrupted-1`,
      `${PROBE_PREFIX}interrupted-2`,
    ]);
    expect(await store.removeLeftoverProbes()).toBe(2);
    expect(await store.leftoverProbes()).toEqual([]);
    expect(await store.removeLeftoverProbes()).toBe(0);
    await store.probe();
    expect(await store.leftoverProbes()).toEqual([]);
  });

  it("reports partial writes a killed process left and removes only those past the grace period", async () => {
    expect(await store.partialWrites()).toEqual([]);
    if (harness.plantPartial === undefined) {
      // S3: a killed multipart upload is not an object; a lifecycle rule aborts it (docs/storage.md).
      expect(await store.removePartialWrites(0)).toBe(0);
      return;
    }
    await harness.plantPartial(PARTIAL_WRITE_GRACE_MS + 60_000);
    await harness.plantPartial(1000);
    const found = await store.partialWrites();
    expect(found.map((p) => p.size)).toEqual([12, 12]);
    expect(found.filter((p) => p.ageMs >= PARTIAL_WRITE_GRACE_MS)).toHaveLength(1);
    expect(await store.removePartialWrites(PARTIAL_WRITE_GRACE_MS)).toBe(1);
    expect(await store.partialWrites()).toHaveLength(1);
    // A write that finishes normally leaves nothing partial.
    await store.put(BLOB_KEY, BLOB, { digest: BLOB_DIGEST });
    expect(await store.partialWrites()).toHaveLength(1);
  });

  it("closes, and closing twice is fine", async () => {
    await store.close();
    await store.close();
  });
});
