import type { Readable } from "node:stream";
import type { Digest } from "../image/digest.js";

export interface ObjectInfo {
  size: number;
  contentType?: string;
  /**
   * When the object was last written (S3 `Last-Modified`, second precision; the file's mtime
   * locally). Garbage collection and the push's reuse rule compare it with a cutoff.
   */
  lastModified?: Date;
}

export interface PutOptions {
  contentType?: string;
  /**
   * When set, the bytes are hashed while they are written and the object only becomes
   * visible under `key` if they match; otherwise the write is abandoned and
   * DigestMismatchError is thrown. A crash mid-write never leaves a wrong object at `key`.
   */
  digest?: Digest;
  /** Expected size; checked like the digest. */
  size?: number;
  /** Make the object world-readable (S3 ACL public-read), for public-redirect registries. */
  publicRead?: boolean;
  /** Called with the number of bytes written so far (for progress). */
  onProgress?: (bytesWritten: number) => void;
  /**
   * The Buffer body is a buffer of this store's part budget (`multipart.budget`) whose slot the
   * caller holds: the write takes no second slot (which could wait on the caller) and does not
   * return the buffer to the pool; the caller does both when done.
   */
  budgeted?: boolean;
}

export interface PutResult {
  size: number;
  digest: Digest;
}

export interface ListedObject {
  key: string;
  size: number;
  /** As ObjectInfo.lastModified; every listing reports it. */
  lastModified: Date;
}

/**
 * Where `probe()` writes its object. Reserved: no publication key starts with it, and
 * `leftoverProbes()` / `removeLeftoverProbes()` are the only way to see or delete what is there.
 */
export const PROBE_PREFIX = ".raas-probe/";

/** A write a killed process never finished (local: a file in `<root>/.tmp/`). */
export interface PartialWrite {
  /** Where it is, for messages (a path or an upload id). */
  name: string;
  size: number;
  /** Milliseconds since it was last written to. */
  ageMs: number;
}

/** How long a partial write may sit before setup or push removes it: a push in flight is younger. */
export const PARTIAL_WRITE_GRACE_MS = 60 * 60 * 1000;

/**
 * The blob store: S3 (any endpoint) or a local directory. Keys are `/`-separated, never start
 * with `/`, and never contain `.` or `..` segments; implementations reject any other key.
 */
export interface BlobStore {
  /** For messages: `s3://bucket at https://endpoint` or `local directory /path`. */
  readonly description: string;
  head(key: string): Promise<ObjectInfo | undefined>;
  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<PutResult>;
  /** Throws ObjectNotFoundError when the key does not exist. */
  get(key: string): Promise<Readable>;
  getBuffer(key: string): Promise<Buffer>;
  list(prefix: string): AsyncIterable<ListedObject>;
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Server-side copy (no bytes through this process). */
  copy(
    fromKey: string,
    toKey: string,
    options?: Pick<PutOptions, "contentType" | "publicRead">,
  ): Promise<void>;
  /** Check the store is reachable and writable (write/read/delete a probe object under PROBE_PREFIX). */
  probe(): Promise<void>;
  /** What holds the objects, for messages: `the S3 bucket acme-images`, `the directory /srv/raas`. */
  readonly container: string;
  /**
   * Whether creating the container needs the operator's consent (`raas setup --create`): a bucket
   * does (it is billed and its name is global), a directory does not.
   */
  readonly createNeedsConsent: boolean;
  /** Whether the container exists (the bucket answers HeadBucket; the directory is there). */
  exists(): Promise<boolean>;
  /** Create the container; creating one that exists and is ours is not an error. */
  create(): Promise<void>;
  /** Keys of the probe objects an interrupted probe left under PROBE_PREFIX. */
  leftoverProbes(): Promise<string[]>;
  /** Delete them; returns how many there were. */
  removeLeftoverProbes(): Promise<number>;
  /** Writes a killed process left unfinished (never visible as objects). */
  partialWrites(): Promise<PartialWrite[]>;
  /** Delete the partial writes older than `olderThanMs`; returns how many. */
  removePartialWrites(olderThanMs: number): Promise<number>;
  /**
   * Where objects have their own access control (S3 ACLs): the object's unauthenticated URL,
   * and a way to make an existing object readable by anyone. Absent where clients never read
   * storage directly (local: the registry serves the files itself).
   */
  anonymousUrl?(key: string): string;
  makePublicRead?(key: string): Promise<void>;
  /**
   * Where the store has multipart uploads of its own (S3): a blob assembled from parts sent in
   * separate requests, possibly by separate processes, without reading them back. Absent
   * locally, where the registry's upload sessions keep parts as files.
   */
  readonly multipart?: MultipartUploads;
  /**
   * Where objects are files (local): make `toKey` out of the objects `parts`, in order, without
   * reading them through a hash again (the caller has proven their digest as they were written).
   * One part is renamed into place; several are joined in a temporary file that is then renamed,
   * so a crash never leaves a partial object at `toKey`. Each part's size is checked first; the
   * parts are gone afterwards. Absent where objects cannot be moved (S3 copies server-side).
   */
  assemble?(
    parts: readonly { key: string; size: number }[],
    toKey: string,
    options?: AssembleOptions,
  ): Promise<void>;
  /**
   * Release connections; the store cannot be used afterwards. Writes in flight stop and reject
   * with StoreClosedError, and so does every later write: what an interrupted command was
   * writing never becomes an object. Closing twice is fine.
   */
  close(): Promise<void>;
}

export type AssembleOptions = Pick<PutOptions, "contentType" | "publicRead">;

/** S3 multipart uploads, driven part by part (the registry's resumable blob uploads). */
export interface MultipartUploads {
  /** Every part but the last must be at least this long (S3: 5 MiB). */
  readonly minPartSize: number;
  /** At most this many parts per upload (S3: 10,000). */
  readonly maxParts: number;
  /** Starts an upload that will become `key`; returns its upload id. */
  create(key: string, options?: Pick<PutOptions, "contentType" | "publicRead">): Promise<string>;
  /** Sends part `partNumber` (1-based); returns its ETag. Sending a number again replaces it. */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string>;
  /** Assembles the parts; S3 refuses a part whose ETag is not the one it holds. */
  complete(key: string, uploadId: string, parts: { number: number; etag: string }[]): Promise<void>;
  /** Discards the upload and its parts; an upload that is already gone is not an error. */
  abort(key: string, uploadId: string): Promise<void>;
  /**
   * The store's shared part-memory budget, when it has one (S3: `concurrency` slots of
   * `partSize`): callers that buffer parts themselves (the registry's upload sessions) draw
   * from it, so every buffer of the process counts against one limit.
   */
  readonly budget?: PartBudget;
}

/** A slot-counted pool of part buffers (see MultipartUploads.budget). */
export interface PartBudget {
  /** The size of a pooled buffer. */
  readonly partSize: number;
  /**
   * Waits for a slot for a caller other than the store's own writes; such callers together
   * never hold the last free slot (when there are several), so a store write always
   * progresses. Resolves with the release (safe to call twice).
   */
  acquireShared(): Promise<() => void>;
  /** A buffer of `size` bytes (pooled when `size` is partSize). */
  take(size: number): Buffer;
  /** Give back a buffer from take() once nothing uses it. */
  give(part: Buffer): void;
  /**
   * Slots held now, the most ever held at once (by anyone; by shared callers), acquisitions so
   * far, and buffers allocated.
   */
  stats(): {
    slots: number;
    inUse: number;
    peak: number;
    sharedPeak: number;
    acquired: number;
    allocated: number;
  };
}

export class ObjectNotFoundError extends Error {
  constructor(
    readonly key: string,
    where: string,
  ) {
    super(`${where}: no object at ${key}`);
    this.name = "ObjectNotFoundError";
  }
}

/**
 * A write the store's close() stopped (or that started after it): an interrupted command closes
 * its store so that uploads in flight end. The object was not written.
 */
export class StoreClosedError extends Error {
  constructor(
    readonly key: string,
    where: string,
  ) {
    super(`${where} was closed (the command is stopping): ${key} was not written`);
    this.name = "StoreClosedError";
  }
}

export class DigestMismatchError extends Error {
  constructor(
    readonly key: string,
    readonly expected: { digest?: Digest; size?: number },
    readonly actual: { digest: Digest; size: number },
  ) {
    super(
      `content of ${key} does not match: expected ${expected.digest ?? "(any digest)"}` +
        `${expected.size === undefined ? "" : ` (${expected.size} bytes)`}, got ${actual.digest} (${actual.size} bytes)`,
    );
    this.name = "DigestMismatchError";
  }
}

const SEGMENT_RE = /^[A-Za-z0-9._:@+=-]+$/;

/** Throws unless `key` is a safe relative object key (see BlobStore). */
export function assertSafeKey(key: string): void {
  if (key.length === 0 || key.length > 1024 || key.startsWith("/") || key.endsWith("/")) {
    throw new Error(`unsafe storage key: ${JSON.stringify(key)}`);
  }
  for (const segment of key.split("/")) {
    if (segment === "." || segment === ".." || !SEGMENT_RE.test(segment)) {
      throw new Error(`unsafe storage key: ${JSON.stringify(key)}`);
    }
  }
}

/** Throws unless `key` is a safe object key outside the reserved probe prefix. */
export function assertObjectKey(key: string): void {
  assertSafeKey(key);
  if (key.startsWith(PROBE_PREFIX)) {
    throw new Error(`unsafe storage key: ${JSON.stringify(key)} is reserved`);
  }
}
