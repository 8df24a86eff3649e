/**
 * Blob upload sessions that live in storage, not in this process: any worker or replica can
 * continue an upload another began, and a killed process loses nothing a client cannot resume.
 *
 * Under `.raas-uploads/<id>/` (a prefix no repository can have: repository prefixes start with
 * a letter or digit) a session is a chain of immutable objects:
 *   state-<offset, 16 digits>   JSON: repository, offset, the parts so far, the SHA-256 state
 *   part-<offset>-<nonce>       the bytes of one chunk
 * A PATCH at offset O reads state-O, stores its chunk as a new part (hashing it on the way, the
 * hash state is restored with hash-wasm's load() so nothing is read twice) and writes
 * state-(O+n). Every object is written once and never changed, so two PATCHes racing on one
 * offset cannot corrupt the session: each produces a complete, consistent state and the
 * longest one is the session's. Completion checks the digest from the saved hash state first,
 * then streams the parts through the store's verified write under the blob's key, so the blob
 * only becomes visible once its bytes are proven.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { PassThrough, type Readable, Transform, type TransformCallback } from "node:stream";
import { createSHA256, type IHasher } from "hash-wasm";
import type { Digest } from "../image/digest.js";
import type { BlobStore } from "../storage/types.js";

export const UPLOADS_PREFIX = ".raas-uploads/";
const ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** More parts than this and the client is sending absurdly small chunks: refuse. */
export const MAX_PARTS = 10_000;

export interface UploadState {
  repository: string;
  offset: number;
  parts: { key: string; size: number }[];
  /** hash-wasm SHA-256 state after `offset` bytes, base64. */
  hash: string;
  started: string;
}

/** A session id we issued: validated before any key is built from it. */
export function isUploadId(id: string): boolean {
  return ID_RE.test(id);
}

const pad = (n: number) => String(n).padStart(16, "0");
const stateKey = (id: string, offset: number) => `${UPLOADS_PREFIX}${id}/state-${pad(offset)}`;

export class ChunkTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the upload would exceed the limit of ${limit} bytes`);
    this.name = "ChunkTooLargeError";
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
  if (state !== undefined && state.offset > 0) hasher.load(Buffer.from(state.hash, "base64"));
  return hasher;
}

/** Hashes (with hash-wasm) and counts what flows through; fails past `limit` bytes. */
class MeteredHash extends Transform {
  bytes = 0;
  constructor(
    readonly hasher: IHasher,
    private readonly limit: number,
    private readonly expected: number | undefined,
  ) {
    super();
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

export class UploadSessions {
  constructor(
    private readonly store: BlobStore,
    private readonly maxBlobSize: number,
  ) {}

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
    if (!isUploadId(id)) return undefined;
    let newest: string | undefined;
    for await (const object of this.store.list(`${UPLOADS_PREFIX}${id}/state-`)) {
      if (newest === undefined || object.key > newest) newest = object.key;
    }
    if (newest === undefined) return undefined;
    const state = JSON.parse((await this.store.getBuffer(newest)).toString("utf8")) as UploadState;
    return state.repository === repository ? state : undefined;
  }

  /**
   * Append `body` at `state.offset`; returns the new state. The chunk is streamed into storage
   * (memory stays bounded) and hashed on the way.
   */
  async append(id: string, state: UploadState, body: Readable, expected?: number): Promise<UploadState> {
    if (state.parts.length >= MAX_PARTS) throw new ChunkTooLargeError(this.maxBlobSize);
    const hasher = await hasherFrom(state);
    const meter = new MeteredHash(hasher, this.maxBlobSize - state.offset, expected);
    const key = `${UPLOADS_PREFIX}${id}/part-${pad(state.offset)}-${randomBytes(6).toString("hex")}`;
    body.on("error", (err) => meter.destroy(err));
    body.pipe(meter);
    let failure: unknown;
    meter.on("error", (err) => (failure = err));
    try {
      await this.store.put(key, meter);
    } catch (err) {
      await this.store.delete(key).catch(() => undefined);
      // The store may wrap the stream's error: what the meter refused is the real cause.
      throw failure ?? err;
    }
    if (expected !== undefined && meter.bytes !== expected) {
      await this.store.delete(key);
      throw new ChunkSizeError(expected, meter.bytes);
    }
    if (meter.bytes === 0) {
      await this.store.delete(key);
      return state;
    }
    const next: UploadState = {
      ...state,
      offset: state.offset + meter.bytes,
      parts: [...state.parts, { key, size: meter.bytes }],
      hash: Buffer.from(hasher.save()).toString("base64"),
    };
    await this.writeState(id, next);
    return next;
  }

  /** The digest of everything uploaded so far, from the saved hash state (nothing is re-read). */
  async digestOf(state: UploadState): Promise<Digest> {
    const hasher = await hasherFrom(state);
    return `sha256:${hasher.digest("hex")}`;
  }

  /** Stream the parts, in order, into the verified write of `key`. */
  async complete(state: UploadState, key: string, digest: Digest, contentType?: string): Promise<void> {
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
    await this.store.put(key, joined, {
      digest,
      size: state.offset,
      ...(contentType === undefined ? {} : { contentType }),
    });
  }

  /** Remove every object of the session (cancel, or after completion). */
  async remove(id: string): Promise<void> {
    if (!isUploadId(id)) return;
    const keys: string[] = [];
    for await (const object of this.store.list(`${UPLOADS_PREFIX}${id}/`)) keys.push(object.key);
    for (const key of keys) await this.store.delete(key);
  }

  private async writeState(id: string, state: UploadState): Promise<void> {
    await this.store.put(stateKey(id, state.offset), Buffer.from(JSON.stringify(state)), {
      contentType: "application/json",
    });
  }
}
