import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

/** A content digest. Only sha256 is produced; validation is strict before any key or URL is built. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: unknown): value is Digest {
  return typeof value === "string" && DIGEST_RE.test(value);
}

export function sha256Digest(data: Uint8Array | string): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export function digestHex(digest: Digest): string {
  return digest.slice("sha256:".length);
}

/**
 * A pass-through stream that hashes and counts what flows through it.
 * `digest()` and `size()` are final once the stream has ended.
 */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash("sha256");
  private bytes = 0;
  private result: Digest | undefined;

  /** With `limit`: the stream fails with `tooLarge(limit)` once more than `limit` bytes passed. */
  constructor(private readonly bound?: { limit: number; tooLarge: (limit: number) => Error }) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.bound !== undefined && this.bytes > this.bound.limit) {
      callback(this.bound.tooLarge(this.bound.limit));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.result = `sha256:${this.hash.digest("hex")}`;
    callback();
  }

  digest(): Digest {
    if (this.result === undefined) throw new Error("HashingStream.digest() called before the stream ended");
    return this.result;
  }

  size(): number {
    return this.bytes;
  }
}
