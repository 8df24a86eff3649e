/**
 * Blob upload sessions that live in storage, not in this process: any worker or replica can
 * continue an upload another began, and a killed process loses nothing a client cannot resume.
 *
 * Under `.raas-uploads/<id>/` (a prefix no repository can have: repository prefixes start with
 * a letter or digit) a session is an immutable state object (each chunk writes the next),
 *   state-<offset, 16 digits>   JSON: repository, offset, the parts so far, the SHA-256 state
 * and the bytes, kept one of two ways:
 * - in a store with multipart uploads (S3), as parts of one multipart upload whose target is the
 *   staging key `<id>/blob`. Parts are cut at PART_SIZE as the body streams in (memory: about
 *   one part per request, whatever the blob's size); what is left at the end of a request, when
 *   shorter than S3's 5 MiB part minimum, waits in a `pending-<offset>-<nonce>` object and goes
 *   in front of the next request's bytes. The state records the upload id, each part's number,
 *   ETag and size, and the pending object. Completion checks the digest from the saved hash
 *   state; only then is the multipart upload completed (at the staging key, never the blob's)
 *   and copied server-side to the blob's key. S3 refuses to complete with a part whose ETag is
 *   not the one recorded, so a part replaced by a racing request cannot slip into a blob.
 * - elsewhere (local directories), as `part-<offset>-<nonce>` objects. Completion checks the
 *   digest from the saved hash state, then the store moves the parts into the blob's place
 *   (`assemble`: one part is renamed, several are joined in a temporary file that is renamed),
 *   so each byte is written and hashed once. A store without `assemble` streams the parts
 *   through its verified write instead.
 * Once state-(O+n) is written, the state it continues (state-O) is deleted: a session keeps one
 * state object (a few more after racing requests), so finding the newest is one short listing
 * however many chunks came before, and the states written over a session add up to one per chunk,
 * not a growing chain. A session takes at most MAX_CHUNKS chunks: the local state names every
 * part, so it is rewritten at a size that grows with each chunk; the limit bounds that (and the
 * S3 pending object, rewritten by every small chunk) to a known cost.
 * A request at offset O reads state-O, hashes its bytes on the way (the hash state is restored
 * with hash-wasm's load(), so nothing is read twice) and writes state-(O+n). On local stores a
 * first chunk is hashed only by the store's native write (its digest is saved instead of a hash
 * state); a second chunk then rebuilds the hash state from the parts once. Two requests racing
 * on one offset each produce a complete, consistent state; the longest one is the session's.
 * A wrong digest ends the session: its parts are deleted and its multipart upload aborted.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { PassThrough, type Readable, Transform, type TransformCallback } from "node:stream";
import { createSHA256, type IHasher } from "hash-wasm";
import type { Digest } from "../image/digest.js";
import {
  DigestMismatchError,
  ObjectNotFoundError,
  type BlobStore,
  type MultipartUploads,
  type PutOptions,
} from "../storage/types.js";
import { isUploadId, UPLOADS_PREFIX } from "../storage/upload-keys.js";

/**
 * More non-empty chunks (PATCHes with a body) than this in one session and the client is
 * sending absurdly small chunks: refuse (docs/push-api.md). Real clients send a blob in one
 * request or in chunks of megabytes; the closing PUT may still carry one more.
 */
export const MAX_CHUNKS = 1000;

/**
 * Stores with multipart uploads: a chunk shorter than a part's minimum joins the pending bytes,
 * which are written again as one object, so chunks of a few KiB would make the registry write
 * hundreds of times what the client sent. A session may rewrite pending bytes up to this ratio
 * of the bytes it received, plus REWRITE_SLACK; beyond, a further small chunk is refused. Chunks
 * of 256 KiB stay well inside (about 10x); clients that honour OCI-Chunk-Min-Length rewrite
 * nothing.
 */
export const REWRITE_RATIO = 16;
export const REWRITE_SLACK = 64 * 1024 * 1024;
/**
 * Where the store has multipart uploads: the size parts are cut at (grown for a blob limit that
 * would not fit in S3's 10,000 parts). One such buffer per request in flight bounds memory.
 */
export const PART_SIZE = 8 * 1024 * 1024;

export interface MultipartState {
  uploadId: string;
  parts: { number: number; etag: string; size: number }[];
}

export interface UploadState {
  repository: string;
  offset: number;
  /** Local stores: the part objects, in order. */
  parts: { key: string; size: number }[];
  /** Stores with multipart uploads, once the first part is sent. */
  multipart?: MultipartState;
  /** Stores with multipart uploads: the bytes after the last part (fewer than a part's minimum). */
  pending?: { key: string; size: number };
  /** hash-wasm SHA-256 state after `offset` bytes, base64; absent when `digest` stands for it. */
  hash?: string;
  /**
   * Local stores, after a first chunk: the SHA-256 of the bytes so far, as the store computed it
   * (natively) while writing the part. hash-wasm is several times slower than node's hash, so the
   * common upload (one PATCH of the whole blob, then an empty PUT) never goes through it; a
   * further chunk rebuilds the hash state from the parts once.
   */
  digest?: Digest;
  /** Non-empty chunks received (absent in sessions begun before it was counted: the parts then). */
  chunks?: number;
  /** Stores with multipart uploads: pending bytes written again by later small chunks, in all. */
  rewritten?: number;
  started: string;
}

const chunksOf = (state: UploadState) => state.chunks ?? state.parts.length;

const pad = (n: number) => String(n).padStart(16, "0");
const stateKey = (id: string, offset: number) => `${UPLOADS_PREFIX}${id}/state-${pad(offset)}`;
/** Where a session's multipart upload is assembled: never a blob's key. */
export const stagingKey = (id: string) => `${UPLOADS_PREFIX}${id}/blob`;
const nonce = () => randomBytes(6).toString("hex");

export class ChunkTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the upload would exceed the limit of ${limit} bytes`);
    this.name = "ChunkTooLargeError";
  }
}

/** A session that already has MAX_CHUNKS chunks. */
export class TooManyChunksError extends Error {
  constructor(readonly limit: number) {
    super(`the upload already has ${limit} chunks, the most one session takes`);
    this.name = "TooManyChunksError";
  }
}

/** A small chunk after the session has rewritten its pending bytes too often (REWRITE_RATIO). */
export class SmallChunksError extends Error {
  constructor(readonly minimum: number) {
    super(`chunks of this upload are too small: send chunks of at least ${minimum} bytes, except the last`);
    this.name = "SmallChunksError";
  }
}

/** A chunk whose body is not as long as its Content-Range says. */
export class ChunkSizeError extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`the chunk has ${actual} bytes, its range says ${expected}`);
    this.name = "ChunkSizeError";
  }
}

async function hasherFrom(state: UploadState | undefined): Promise<IHasher> {
  const hasher = await createSHA256();
  hasher.init();
  if (state !== undefined && state.offset > 0) {
    if (state.hash === undefined) throw new Error("the upload state has no saved hash state");
    hasher.load(Buffer.from(state.hash, "base64"));
  }
  return hasher;
}

/** Hashes (with hash-wasm) and counts what flows through; fails past `limit` bytes. */
class MeteredHash extends Transform {
  bytes = 0;
  failure: unknown;
  constructor(
    readonly hasher: IHasher,
    private readonly limit: number,
    private readonly expected: number | undefined,
  ) {
    super();
    this.on("error", (err) => (this.failure ??= err));
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      callback(new ChunkTooLargeError(this.limit));
      return;
    }
    if (this.expected !== undefined && this.bytes > this.expected) {
      callback(new ChunkSizeError(this.expected, this.bytes));
      return;
    }
    this.hasher.update(chunk);
    callback(null, chunk);
  }
}

/** Counts what flows through, without hashing (the store's verified write hashes); fails past `limit`. */
class Metered extends Transform {
  bytes = 0;
  failure: unknown;
  constructor(
    private readonly limit: number,
    private readonly expected: number | undefined,
  ) {
    super();
    this.on("error", (err) => (this.failure ??= err));
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) callback(new ChunkTooLargeError(this.limit));
    else if (this.expected !== undefined && this.bytes > this.expected) {
      callback(new ChunkSizeError(this.expected, this.bytes));
    } else callback(null, chunk);
  }
}

/** Where the blob goes once its digest is proven. */
export interface BlobTarget {
  key: string;
  digest: Digest;
  publicRead?: boolean;
}

export class UploadSessions {
  private readonly partSize: number;

  constructor(
    private readonly store: BlobStore,
    private readonly maxBlobSize: number,
    /** Problems that do not fail the request (an abort the store refused). */
    private readonly warn: (message: string) => void = () => undefined,
    /** REWRITE_SLACK unless given (tests reach the limit with less data). */
    private readonly rewriteSlack: number = REWRITE_SLACK,
  ) {
    const mp = store.multipart;
    this.partSize =
      mp === undefined
        ? PART_SIZE
        : Math.max(PART_SIZE, mp.minPartSize, Math.ceil(maxBlobSize / (mp.maxParts - 1)));
  }

  /** What the POST answer advertises as OCI-Chunk-Min-Length: a part's minimum, on multipart stores. */
  get minChunkLength(): number | undefined {
    return this.store.multipart?.minPartSize;
  }

  /** Start a session for `repository` (a storage prefix); returns its id. */
  async start(repository: string, now: Date): Promise<string> {
    const id = randomUUID();
    const hasher = await hasherFrom(undefined);
    const state: UploadState = {
      repository,
      offset: 0,
      parts: [],
      hash: Buffer.from(hasher.save()).toString("base64"),
      started: now.toISOString(),
    };
    await this.writeState(id, state);
    return id;
  }

  /** The session's newest state, or undefined when there is no such session for `repository`. */
  async current(id: string, repository: string): Promise<UploadState | undefined> {
    const state = await this.newest(id);
    return state?.repository === repository ? state : undefined;
  }

  private async newest(id: string): Promise<UploadState | undefined> {
    if (!isUploadId(id)) return undefined;
    for (let attempt = 0; ; attempt++) {
      let newest: string | undefined;
      for await (const object of this.store.list(`${UPLOADS_PREFIX}${id}/state-`)) {
        if (newest === undefined || object.key > newest) newest = object.key;
      }
      if (newest === undefined) return undefined;
      try {
        return JSON.parse((await this.store.getBuffer(newest)).toString("utf8")) as UploadState;
      } catch (err) {
        // Removed between the listing and the read: superseded by a newer state (list again),
        // or the session is gone.
        if (!(err instanceof ObjectNotFoundError)) throw err;
        if (attempt >= 3) return undefined;
      }
    }
  }

  /**
   * Append `body` at `state.offset`; returns the new state. The chunk is streamed into storage
   * (memory stays bounded) and hashed on the way.
   */
  async append(id: string, state: UploadState, body: Readable, expected?: number): Promise<UploadState> {
    if (expected !== 0 && chunksOf(state) >= MAX_CHUNKS) throw new TooManyChunksError(MAX_CHUNKS);
    const mp = this.store.multipart;
    if (mp === undefined) return this.appendPartObject(id, state, body, expected);
    if (
      state.pending !== undefined &&
      expected !== 0 &&
      (state.rewritten ?? 0) > this.rewriteSlack + REWRITE_RATIO * state.offset
    ) {
      throw new SmallChunksError(mp.minPartSize);
    }
    const received = await this.receive(mp, id, state, body, expected);
    const { tail, created, done } = received;
    const next = { ...received.next, chunks: chunksOf(state) + 1 };
    try {
      if (tail.length >= mp.minPartSize) {
        const sent = await this.sendPart(mp, id, next, tail);
        return await this.persist(id, state, { ...sent, pending: undefined });
      }
      if (next.offset === state.offset) return state; // an empty chunk
      const pending =
        tail.length === 0
          ? undefined
          : { key: `${UPLOADS_PREFIX}${id}/pending-${pad(next.offset)}-${nonce()}`, size: tail.length };
      if (pending !== undefined) await this.store.put(pending.key, tail, { budgeted: true });
      const rewritten = (state.rewritten ?? 0) + (state.pending?.size ?? 0);
      return await this.persist(id, state, { ...next, pending, ...(rewritten > 0 ? { rewritten } : {}) });
    } catch (err) {
      if (created !== undefined) await this.abort(id, created);
      throw err;
    } finally {
      done();
    }
  }

  /**
   * Append `body` and, when everything uploaded hashes to `target.digest`, make the blob visible
   * at `target.key`; then the session is removed. A wrong digest removes the session too (its
   * multipart upload aborted) and throws DigestMismatchError: nothing appears at the blob's key.
   */
  async finish(
    id: string,
    state: UploadState,
    body: Readable,
    target: BlobTarget,
    expected?: number,
  ): Promise<void> {
    const mp = this.store.multipart;
    const put: PutOptions = { digest: target.digest, publicRead: target.publicRead === true };
    if (mp === undefined && state.offset === 0) {
      // The whole blob in this one request (docker does this; skopeo 1.9 PATCHes instead): stream it once into
      // the store's verified write, without a part object (one write and one hash, not two).
      const meter = new Metered(this.maxBlobSize, expected);
      body.on("error", (err) => meter.destroy(err));
      body.pipe(meter);
      try {
        await this.store.put(target.key, meter, put);
      } catch (err) {
        await this.remove(id, state);
        throw meter.failure ?? err;
      }
      if (expected !== undefined && meter.bytes !== expected) {
        // The bytes hashed to the digest, so the blob is right; the request's range was not.
        await this.remove(id, state);
        throw new ChunkSizeError(expected, meter.bytes);
      }
    } else if (mp === undefined) {
      const last = await this.appendPartObject(id, state, body, expected);
      await this.checkDigest(id, last, target);
      // A state names its own parts only: never move (or read) an object from outside the session.
      const own = `${UPLOADS_PREFIX}${id}/part-`;
      const foreign = last.parts.find((part) => !part.key.startsWith(own) || part.key.includes(".."));
      if (foreign !== undefined) {
        throw new Error(`upload ${id}: its state names ${JSON.stringify(foreign.key)}, not one of its parts`);
      }
      if (this.store.assemble !== undefined) {
        // The parts were hashed as they were written (the saved state proves the digest): move
        // them into place rather than reading and hashing every byte a second time.
        await this.store.assemble(last.parts, target.key, { publicRead: target.publicRead === true });
      } else {
        await this.streamParts(last, target.key, { ...put, size: last.offset });
      }
    } else {
      const { next, tail, done } = await this.receive(mp, id, state, body, expected);
      let sent: UploadState;
      try {
        await this.checkDigest(id, next, target);
        if (next.multipart === undefined) {
          // Never more than a part: one verified PutObject, no multipart upload at all.
          await this.store.put(target.key, tail, { ...put, size: next.offset, budgeted: true });
        }
        sent =
          next.multipart !== undefined && tail.length > 0 ? await this.sendPart(mp, id, next, tail) : next;
      } finally {
        done();
      }
      if (next.multipart !== undefined) {
        const upload = sent.multipart!;
        await mp.complete(stagingKey(id), upload.uploadId, upload.parts);
        const staged = await this.store.head(stagingKey(id));
        if (staged?.size !== sent.offset) {
          throw new Error(
            `upload ${id}: S3 assembled ${staged?.size ?? "no"} bytes, ${sent.offset} were sent`,
          );
        }
        await this.store.copy(stagingKey(id), target.key, { publicRead: target.publicRead === true });
        // Completed: nothing left to abort, only the staging object and the session's own.
        await this.remove(id, { ...sent, multipart: undefined });
        return;
      }
    }
    await this.remove(id);
  }

  private async checkDigest(id: string, state: UploadState, target: BlobTarget): Promise<void> {
    const actual: Digest | undefined =
      state.offset > 0 && state.hash === undefined
        ? state.digest
        : `sha256:${(await hasherFrom(state)).digest("hex")}`;
    if (actual === undefined) {
      throw new Error(`upload ${id}: its state has neither a hash state nor a digest`);
    }
    if (actual === target.digest) return;
    await this.remove(id, state);
    throw new DigestMismatchError(
      target.key,
      { digest: target.digest },
      { digest: actual, size: state.offset },
    );
  }

  /**
   * Streams the pending bytes and then `body` (hashed on the way) into parts of `partSize`.
   * Returns the state after them (not yet written) and the bytes left over, fewer than a part,
   * which live in a buffer of the store's part budget until `done` is called (callers must).
   * The budget's slot is taken before the body is read, so however many uploads arrive at once,
   * the process holds no more part buffers than the budget has slots.
   */
  private async receive(
    mp: MultipartUploads,
    id: string,
    state: UploadState,
    body: Readable,
    expected: number | undefined,
  ): Promise<{ next: UploadState; tail: Buffer; created: string | undefined; done: () => void }> {
    const budget = mp.budget;
    const release = budget === undefined ? () => undefined : await budget.acquireShared();
    // A pooled buffer when the budget's part is large enough (parts are cut at partSize in it).
    const size = budget !== undefined && budget.partSize >= this.partSize ? budget.partSize : this.partSize;
    const part = budget === undefined ? Buffer.allocUnsafe(size) : budget.take(size);
    const done = () => {
      budget?.give(part);
      release();
    };
    let filled = 0;
    let next: UploadState = { ...state, pending: undefined };
    const created = state.multipart === undefined ? () => next.multipart?.uploadId : () => undefined;
    const hasher = await hasherFrom(state).catch((err: unknown) => {
      done();
      throw err;
    });
    const meter = new MeteredHash(hasher, this.maxBlobSize - state.offset, expected);
    const add = async (chunk: Buffer) => {
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(this.partSize - filled, chunk.length - offset);
        chunk.copy(part, filled, offset, offset + n);
        filled += n;
        offset += n;
        if (filled === this.partSize) {
          next = await this.sendPart(mp, id, next, part.subarray(0, this.partSize));
          filled = 0;
        }
      }
    };
    try {
      if (state.pending !== undefined) {
        for await (const chunk of await this.store.get(state.pending.key)) await add(chunk as Buffer);
      }
      body.on("error", (err) => meter.destroy(err));
      body.pipe(meter);
      for await (const chunk of meter) await add(chunk as Buffer);
      if (expected !== undefined && meter.bytes !== expected) throw new ChunkSizeError(expected, meter.bytes);
    } catch (err) {
      done();
      const uploadId = created();
      if (uploadId !== undefined) await this.abort(id, uploadId);
      throw meter.failure ?? err;
    }
    next = {
      ...next,
      offset: state.offset + meter.bytes,
      hash: Buffer.from(hasher.save()).toString("base64"),
    };
    return { next, tail: part.subarray(0, filled), created: created(), done };
  }

  /** Sends `data` as the next part (starting the multipart upload on the first). */
  private async sendPart(
    mp: MultipartUploads,
    id: string,
    state: UploadState,
    data: Buffer,
  ): Promise<UploadState> {
    const upload = state.multipart ?? { uploadId: await mp.create(stagingKey(id)), parts: [] };
    const number = upload.parts.length + 1;
    if (number > mp.maxParts) throw new ChunkTooLargeError(this.maxBlobSize);
    const etag = await mp.uploadPart(stagingKey(id), upload.uploadId, number, data);
    return {
      ...state,
      multipart: { ...upload, parts: [...upload.parts, { number, etag, size: data.length }] },
    };
  }

  /** Writes `next` and drops the pending object `previous` had (the new state no longer needs it). */
  private async persist(id: string, previous: UploadState, next: UploadState): Promise<UploadState> {
    await this.writeState(id, next, previous);
    if (previous.pending !== undefined && previous.pending.key !== next.pending?.key) {
      await this.store.delete(previous.pending.key).catch(() => undefined);
    }
    return next;
  }

  private async appendPartObject(
    id: string,
    state: UploadState,
    body: Readable,
    expected?: number,
  ): Promise<UploadState> {
    // An empty chunk (the empty PUT that closes skopeo's upload): no part, no new state.
    if (expected === 0) return state;
    // A first chunk, or one after a first chunk whose hash state was never saved: the store's
    // own hash of the part is all that is needed (see UploadState.digest); otherwise continue
    // the saved hash state with hash-wasm.
    const hasher = state.offset === 0 || state.hash === undefined ? undefined : await hasherFrom(state);
    const limit = this.maxBlobSize - state.offset;
    const meter =
      hasher === undefined ? new Metered(limit, expected) : new MeteredHash(hasher, limit, expected);
    const key = `${UPLOADS_PREFIX}${id}/part-${pad(state.offset)}-${nonce()}`;
    body.on("error", (err) => meter.destroy(err));
    body.pipe(meter);
    let written: { size: number; digest: Digest };
    try {
      written = await this.store.put(key, meter);
    } catch (err) {
      await this.store.delete(key).catch(() => undefined);
      // The store may wrap the stream's error: what the meter refused is the real cause.
      throw meter.failure ?? err;
    }
    if (expected !== undefined && meter.bytes !== expected) {
      await this.store.delete(key);
      throw new ChunkSizeError(expected, meter.bytes);
    }
    if (meter.bytes === 0) {
      await this.store.delete(key);
      return state;
    }
    if (written.size !== meter.bytes) {
      await this.store.delete(key);
      throw new Error(`upload ${id}: the store wrote ${written.size} bytes of ${meter.bytes}`);
    }
    const parts = [...state.parts, { key, size: meter.bytes }];
    const offset = state.offset + meter.bytes;
    const { hash: _hash, digest: _digest, ...fields } = state;
    const rest = { ...fields, chunks: chunksOf(state) + 1 };
    let next: UploadState;
    if (hasher !== undefined) {
      next = { ...rest, offset, parts, hash: Buffer.from(hasher.save()).toString("base64") };
    } else if (state.offset === 0) {
      next = { ...rest, offset, parts, digest: written.digest };
    } else {
      next = { ...rest, offset, parts, hash: await this.rehash(id, parts, offset) };
    }
    await this.writeState(id, next, state);
    return next;
  }

  /** The hash-wasm state after reading `parts` (once per session, when a second chunk comes). */
  private async rehash(id: string, parts: UploadState["parts"], offset: number): Promise<string> {
    const hasher = await hasherFrom(undefined);
    let bytes = 0;
    for (const part of parts) {
      for await (const chunk of await this.store.get(part.key)) {
        hasher.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
    }
    if (bytes !== offset) {
      throw new Error(`upload ${id}: its parts hold ${bytes} bytes, ${offset} were written`);
    }
    return Buffer.from(hasher.save()).toString("base64");
  }

  /** Local stores: stream the part objects, in order, into the verified write of `key`. */
  private async streamParts(state: UploadState, key: string, options: PutOptions): Promise<void> {
    const joined = new PassThrough();
    const parts = state.parts;
    const store = this.store;
    (async () => {
      for (const part of parts) {
        const stream = await store.get(part.key);
        for await (const chunk of stream) {
          if (!joined.write(chunk)) await new Promise((r) => joined.once("drain", r));
        }
      }
      joined.end();
    })().catch((err: unknown) => joined.destroy(err instanceof Error ? err : new Error(String(err))));
    await this.store.put(key, joined, options);
  }

  private async abort(id: string, uploadId: string): Promise<void> {
    try {
      await this.store.multipart?.abort(stagingKey(id), uploadId);
    } catch (err) {
      // The parts stay invisible; a bucket lifecycle rule (AbortIncompleteMultipartUpload) is the backstop.
      this.warn(
        `upload ${id}: aborting multipart upload failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  /**
   * Remove every object of the session and abort its multipart upload (cancel, a wrong digest,
   * completion, sweeping).
   */
  async remove(id: string, known?: UploadState): Promise<void> {
    if (!isUploadId(id)) return;
    const state = known ?? (await this.newest(id));
    if (state?.multipart !== undefined) await this.abort(id, state.multipart.uploadId);
    const keys: string[] = [];
    for await (const object of this.store.list(`${UPLOADS_PREFIX}${id}/`)) keys.push(object.key);
    // The state objects last: a session interrupted here is still found, and removed again.
    keys.sort((a, b) => Number(a.includes("/state-")) - Number(b.includes("/state-")));
    for (const key of keys) await this.store.delete(key);
  }

  /**
   * Remove the sessions nobody has written to for `maxAgeMs` (their newest object is older),
   * aborting their multipart uploads; returns how many.
   */
  async sweep(maxAgeMs: number, now: Date): Promise<number> {
    const newest = new Map<string, number>();
    for await (const object of this.store.list(UPLOADS_PREFIX)) {
      const id = object.key.slice(UPLOADS_PREFIX.length).split("/")[0] ?? "";
      const at = object.lastModified.getTime();
      if (at > (newest.get(id) ?? -Infinity)) newest.set(id, at);
    }
    let removed = 0;
    for (const [id, at] of newest) {
      if (now.getTime() - at <= maxAgeMs || !isUploadId(id)) continue;
      await this.remove(id);
      removed += 1;
    }
    return removed;
  }

  /** Writes `state`, then deletes the state it continues (`previous`), which it supersedes. */
  private async writeState(id: string, state: UploadState, previous?: UploadState): Promise<void> {
    await this.store.put(stateKey(id, state.offset), Buffer.from(JSON.stringify(state)), {
      contentType: "application/json",
    });
    if (previous !== undefined && previous.offset < state.offset) {
      await this.store.delete(stateKey(id, previous.offset)).catch(() => undefined);
    }
  }
}
