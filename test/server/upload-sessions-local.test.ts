/**
 * Upload sessions on a local directory: a chunked upload closed by an empty PUT (skopeo's way)
 * moves the part file into the blob's place (same inode: not written again) without reading it
 * through the store (not hashed again); several parts are joined; any worker (its own store and
 * sessions on the same root) can finish; a wrong digest, a part changed on disk or a state that
 * names an object outside the session leaves nothing at the blob's key.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UPLOADS_PREFIX } from "../../src/storage/upload-keys.js";
import { UploadSessions } from "../../src/server/upload-sessions.js";
import { LocalStore } from "../../src/storage/local.js";
import { DigestMismatchError } from "../../src/storage/types.js";
import type { Digest } from "../../src/image/digest.js";

const MIB = 1024 * 1024;
const LIMIT = 64 * MIB;
const REPO = "acme/app";
let root: string;

/** A store that records every key read or written through it and how many bytes came out. */
class CountingStore extends LocalStore {
  readonly reads: string[] = [];
  readonly writes: string[] = [];
  bytesRead = 0;
  override async put(...args: Parameters<LocalStore["put"]>): ReturnType<LocalStore["put"]> {
    this.writes.push(args[0]);
    return super.put(...args);
  }
  override async get(key: string): Promise<Readable> {
    this.reads.push(key);
    const stream = await super.get(key);
    stream.on("data", (chunk: Buffer) => (this.bytesRead += chunk.length));
    return stream;
  }
}

const sha = (data: Buffer): Digest => `sha256:${createHash("sha256").update(data).digest("hex")}`;
const blobKey = (digest: Digest) => `blobs/sha256/${digest.slice("sha256:".length)}`;
const empty = () => Readable.from([]);

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "raas-upload-local-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("upload sessions on a local directory", () => {
  it("completes a PATCH + empty PUT by renaming the part: same inode, nothing read back", async () => {
    const data = randomBytes(3 * MIB + 17);
    const digest = sha(data);
    const first = new UploadSessions(new CountingStore(root), LIMIT);
    const id = await first.start(REPO, new Date());
    const patched = await first.append(id, (await first.current(id, REPO))!, Readable.from([data]));
    expect(patched.offset).toBe(data.length);
    expect(patched.parts).toHaveLength(1);
    // Hashed once, by the store's write: no hash-wasm state, the digest instead.
    expect(patched.hash).toBeUndefined();
    expect(patched.digest).toBe(digest);
    const partPath = join(root, ...patched.parts[0]!.key.split("/"));
    const partInode = (await stat(partPath)).ino;

    // Another worker (its own store and sessions on the same root) closes the session.
    const store = new CountingStore(root);
    const other = new UploadSessions(store, LIMIT);
    const state = (await other.current(id, REPO))!;
    await other.finish(id, state, empty(), { key: blobKey(digest), digest }, 0);

    const blobPath = store.pathOf(blobKey(digest));
    expect((await stat(blobPath)).ino).toBe(partInode);
    expect(store.reads.filter((key) => key.startsWith(UPLOADS_PREFIX))).toEqual([]);
    expect(store.bytesRead).toBe(0);
    // The empty closing chunk wrote nothing: no empty part, no new state.
    expect(store.writes).toEqual([]);
    expect(sha(await store.getBuffer(blobKey(digest)))).toBe(digest);
    expect((await store.head(blobKey(digest)))?.size).toBe(data.length);
    // The session is gone (parts, states and the part's sidecar), and no temporary file is left.
    expect(await filesUnder(join(root, UPLOADS_PREFIX))).toEqual([]);
    expect(await filesUnder(join(root, ".meta", UPLOADS_PREFIX))).toEqual([]);
    expect(await filesUnder(join(root, ".tmp"))).toEqual([]);
  });

  it("joins several parts (the last from the PUT body) without reading them through the store", async () => {
    const chunks = [randomBytes(MIB + 3), randomBytes(2 * MIB), randomBytes(5)];
    const data = Buffer.concat(chunks);
    const digest = sha(data);
    const store = new CountingStore(root);
    const sessions = new UploadSessions(store, LIMIT);
    const id = await sessions.start(REPO, new Date());
    let state = (await sessions.current(id, REPO))!;
    state = await sessions.append(id, state, Readable.from([chunks[0]!]));
    state = await sessions.append(id, state, Readable.from([chunks[1]!]));
    // The second chunk rebuilt the hash state from the parts, once.
    expect(state.hash).toBeDefined();
    expect(store.reads.map((key) => key.slice(key.lastIndexOf("/") + 1, key.lastIndexOf("-")))).toEqual([
      `part-${"0".padStart(16, "0")}`,
      `part-${String(chunks[0]!.length).padStart(16, "0")}`,
    ]);
    store.reads.length = 0;
    await sessions.finish(id, state, Readable.from([chunks[2]!]), { key: blobKey(digest), digest }, 5);

    expect((await store.getBuffer(blobKey(digest))).equals(data)).toBe(true);
    expect(store.reads.filter((key) => key.startsWith(UPLOADS_PREFIX))).toEqual([]);
    expect(await filesUnder(join(root, UPLOADS_PREFIX))).toEqual([]);
    expect(await filesUnder(join(root, ".tmp"))).toEqual([]);
  });

  it("a wrong digest leaves nothing at the blob's key and ends the session", async () => {
    const data = randomBytes(MIB);
    const wrong = sha(Buffer.from("something else"));
    const store = new LocalStore(root);
    const sessions = new UploadSessions(store, LIMIT);
    const id = await sessions.start(REPO, new Date());
    const state = await sessions.append(id, (await sessions.current(id, REPO))!, Readable.from([data]));
    await expect(
      sessions.finish(id, state, empty(), { key: blobKey(wrong), digest: wrong }, 0),
    ).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await store.head(blobKey(wrong))).toBeUndefined();
    expect(await store.head(blobKey(sha(data)))).toBeUndefined();
    expect(await filesUnder(join(root, "blobs"))).toEqual([]);
    expect(await sessions.current(id, REPO)).toBeUndefined();
    expect(await filesUnder(join(root, UPLOADS_PREFIX))).toEqual([]);
  });

  it("a part changed on disk after it was hashed is refused, nothing at the blob's key", async () => {
    const data = randomBytes(MIB);
    const digest = sha(data);
    const store = new LocalStore(root);
    const sessions = new UploadSessions(store, LIMIT);
    const id = await sessions.start(REPO, new Date());
    const state = await sessions.append(id, (await sessions.current(id, REPO))!, Readable.from([data]));
    await truncate(store.pathOf(state.parts[0]!.key), 10);
    await expect(sessions.finish(id, state, empty(), { key: blobKey(digest), digest }, 0)).rejects.toThrow(
      /has 10 bytes, 1048576 were written/,
    );
    expect(await store.head(blobKey(digest))).toBeUndefined();
  });

  it("a state naming an object outside the session moves nothing", async () => {
    const victim = Buffer.from("a blob of another repository");
    const store = new LocalStore(root);
    await store.put("other/blobs/x", victim);
    const sessions = new UploadSessions(store, LIMIT);
    const id = await sessions.start(REPO, new Date());
    const state = await sessions.append(id, (await sessions.current(id, REPO))!, Readable.from([victim]));
    // A forged state: same bytes and hash, but its part is someone else's object.
    const forged = { ...state, parts: [{ key: "other/blobs/x", size: victim.length }] };
    await writeFile(
      store.pathOf(`${UPLOADS_PREFIX}${id}/state-${String(forged.offset).padStart(16, "0")}`),
      JSON.stringify(forged),
    );
    const digest = sha(victim);
    await expect(
      sessions.finish(id, (await sessions.current(id, REPO))!, empty(), { key: blobKey(digest), digest }, 0),
    ).rejects.toThrow(/not one of its parts/);
    expect((await store.getBuffer("other/blobs/x")).equals(victim)).toBe(true);
    expect(await store.head(blobKey(digest))).toBeUndefined();
  });
});
