/**
 * Our own multipart uploader rather than @aws-sdk/lib-storage's Upload. The digest check alone
 * would not need one: Upload aborts (never completes) the multipart upload when the body stream
 * errors, so a verifying stream failing at its end would keep a wrong blob invisible too. What
 * Upload cannot do is share one part-memory budget between concurrent uploads: each Upload
 * buffers up to its own queueSize parts, so memory grows with the number of blobs in flight,
 * whereas every upload of a store here draws part buffers from one PartSlots pool (slots x
 * partSize, see UploadRequest.slots). The digest and size are compared before
 * CompleteMultipartUpload, so a wrong blob never becomes visible at its key; bodies up to one
 * part are buffered and sent with a single PutObject after the check.
 *
 * Every body we send is a Buffer, so the SigV4 signer puts its SHA-256 in the signed
 * `x-amz-content-sha256` header and S3 rejects a part or object whose bytes do not hash to it
 * (XAmzContentSHA256Mismatch). That is the in-transit check; a Content-MD5 on top would be a
 * third pass over every byte (MD5 is the slowest of the three) for a weaker hash of the same part.
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from "@aws-sdk/client-s3";
import { UserError } from "../errors.js";
import { fixedChunks } from "./chunks.js";
import { MAX_PARTS, MAX_PART_SIZE } from "./s3-client.js";
import { s3Call, type S3CallContext } from "./s3-errors.js";
import type { PartBudget, PutOptions, PutResult } from "./types.js";
import { verifyPut } from "./verify.js";

export interface UploadRequest {
  client: S3Client;
  context: S3CallContext;
  key: string;
  contentType: string | undefined;
  publicRead: boolean;
  partSize: number;
  concurrency: number;
  /**
   * Part buffers shared by every upload of one store. A part is read from the source only once
   * it holds a slot, so memory stays near slots x partSize however many blobs upload at once.
   */
  slots?: PartSlots;
}

/**
 * A counting semaphore for part buffers (see UploadRequest.slots), and the pool of the buffers
 * themselves: sent parts give theirs back, so a long upload reuses a few buffers instead of
 * allocating one per part (garbage that the collector frees late, inflating peak memory).
 */
export class PartSlots implements PartBudget {
  private free: number;
  private readonly waiting: { shared: boolean; resolve: () => void }[] = [];
  private readonly buffers: Buffer[] = [];
  /** Memory this pool handed out: only that may come back (never a caller's own Buffer body). */
  private readonly ours = new WeakSet<ArrayBufferLike>();
  /** Shared callers (acquireShared) leave this many slots to the store's own writes. */
  private readonly reserve: number;
  private inUse = 0;
  private peak = 0;
  private sharedInUse = 0;
  private sharedPeak = 0;
  private acquired = 0;
  private allocated = 0;

  constructor(
    private readonly count: number,
    readonly partSize: number,
  ) {
    this.free = count;
    this.reserve = count > 1 ? 1 : 0;
  }

  /** A buffer of `size` bytes, reused when it is the pooled size. */
  take(size: number): Buffer {
    const pooled = size === this.partSize ? this.buffers.pop() : undefined;
    if (pooled !== undefined) return pooled;
    const fresh = Buffer.allocUnsafeSlow(size);
    this.ours.add(fresh.buffer);
    this.allocated += 1;
    return fresh;
  }

  /** Return a part (or a slice from its start) whose upload is over. */
  give(part: Buffer): void {
    const whole =
      this.ours.has(part.buffer) && part.byteOffset === 0 && part.buffer.byteLength === this.partSize;
    // A few spares beyond the slots cover blobs that read their first part while others send.
    if (whole && this.buffers.length < this.count + 4) {
      this.buffers.push(Buffer.from(part.buffer, 0, this.partSize));
    }
  }

  /** Resolves with a release function (safe to call more than once). */
  acquire(): Promise<() => void> {
    return this.enter(false);
  }

  acquireShared(): Promise<() => void> {
    return this.enter(true);
  }

  stats() {
    return {
      slots: this.count,
      inUse: this.inUse,
      peak: this.peak,
      sharedPeak: this.sharedPeak,
      acquired: this.acquired,
      allocated: this.allocated,
    };
  }

  private async enter(shared: boolean): Promise<() => void> {
    await new Promise<void>((resolve) => {
      this.waiting.push({ shared, resolve });
      this.pump();
    });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.free += 1;
      this.inUse -= 1;
      if (shared) this.sharedInUse -= 1;
      this.pump();
    };
  }

  /** Hand free slots to waiters in arrival order; a shared waiter never takes a reserved slot. */
  private pump(): void {
    for (let i = 0; i < this.waiting.length && this.free > 0;) {
      const waiter = this.waiting[i]!;
      if (waiter.shared && this.free <= this.reserve) {
        i += 1;
        continue;
      }
      this.waiting.splice(i, 1);
      this.free -= 1;
      this.inUse += 1;
      this.acquired += 1;
      this.peak = Math.max(this.peak, this.inUse);
      if (waiter.shared) {
        this.sharedInUse += 1;
        this.sharedPeak = Math.max(this.sharedPeak, this.sharedInUse);
      }
      waiter.resolve();
    }
  }
}

/** With a known size, grow the part size so the upload fits in S3's 10,000 parts. */
export function effectivePartSize(partSize: number, expectedSize: number | undefined): number {
  if (expectedSize === undefined) return partSize;
  return Math.min(MAX_PART_SIZE, Math.max(partSize, Math.ceil(expectedSize / MAX_PARTS)));
}

class Verifier {
  private readonly hash = createHash("sha256");
  bytes = 0;

  constructor(
    private readonly key: string,
    private readonly options: PutOptions,
  ) {}

  add(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  /** Already longer than promised: no point sending more. */
  get oversized(): boolean {
    return this.options.size !== undefined && this.bytes > this.options.size;
  }

  finish(): PutResult {
    return verifyPut(this.key, this.options, {
      digest: `sha256:${this.hash.digest("hex")}`,
      size: this.bytes,
    });
  }
}

export async function uploadObject(
  request: UploadRequest,
  body: Readable | Buffer,
  options: PutOptions,
): Promise<PutResult> {
  const partSize = effectivePartSize(request.partSize, options.size);
  const verifier = new Verifier(request.key, options);
  const slots = request.slots;
  const chunks = fixedChunks(body, partSize, slots === undefined ? undefined : (n) => slots.take(n));
  // The first part is read under a slot; the peek at a second one may briefly add one buffer.
  // A budgeted body is a buffer whose slot the caller already holds (PutOptions.budgeted).
  const budgeted = options.budgeted === true && Buffer.isBuffer(body) && body.length <= partSize;
  const release = slots === undefined || budgeted ? () => undefined : await slots.acquire();
  let multipart = false;
  try {
    const first = await chunks.next();
    const head = first.done === true ? Buffer.alloc(0) : first.value;
    verifier.add(head);
    // A full first part may be the whole body. With a promised size we know; otherwise peek
    // once (holding a second buffer for a moment), so unknown-size bodies still work.
    const promisedMore = options.size !== undefined && options.size > partSize;
    const peekNeeded = head.length === partSize && options.size === undefined;
    const second = peekNeeded ? await chunks.next() : undefined;
    if (!promisedMore && (second === undefined || second.done === true)) {
      const result = verifier.finish();
      await putSingle(request, head, result.digest.slice("sha256:".length));
      if (!budgeted) slots?.give(head);
      options.onProgress?.(result.size);
      return result;
    }
    multipart = true;
    const firstParts = second === undefined || second.done === true ? [head] : [head, second.value];
    return await uploadMultipart(request, verifier, options, firstParts, chunks, release);
  } finally {
    // uploadMultipart hands the slot to the first part, which releases it when it is sent.
    if (!multipart) {
      release();
      // A body of exactly one part is not read to its end: let the source close its file now,
      // not when the collector finds it.
      await chunks.return(undefined);
    }
  }
}

/**
 * One PutObject of a body already hashed whole: its SHA-256 is the signed payload hash, given to
 * the signer so it does not hash the same bytes a second time (S3 still checks it).
 */
async function putSingle(request: UploadRequest, data: Buffer, sha256Hex: string): Promise<void> {
  const { client, context, key } = request;
  const command = new PutObjectCommand({
    Bucket: context.bucket,
    Key: key,
    Body: data,
    ContentLength: data.length,
    ...(request.contentType === undefined ? {} : { ContentType: request.contentType }),
    ...(request.publicRead ? { ACL: "public-read" } : {}),
  });
  command.middlewareStack.add(
    (next) => async (args) => {
      const http = args.request as { headers?: Record<string, string> };
      if (http.headers !== undefined) http.headers["x-amz-content-sha256"] = sha256Hex;
      return next(args);
    },
    { step: "build", name: "raasKnownPayloadHash" },
  );
  await s3Call(context, "PutObject", key, () => client.send(command));
}

async function uploadMultipart(
  request: UploadRequest,
  verifier: Verifier,
  options: PutOptions,
  firstParts: Buffer[],
  rest: AsyncGenerator<Buffer>,
  firstRelease: () => void,
): Promise<PutResult> {
  const { client, context, key } = request;
  let created;
  try {
    created = await s3Call(context, "CreateMultipartUpload", key, () =>
      client.send(
        new CreateMultipartUploadCommand({
          Bucket: context.bucket,
          Key: key,
          ...(request.contentType === undefined ? {} : { ContentType: request.contentType }),
          ...(request.publicRead ? { ACL: "public-read" } : {}),
        }),
      ),
    );
  } catch (err) {
    firstRelease();
    // Release the source (a file or archive stream) instead of leaving it paused forever.
    await rest.return(undefined);
    throw err;
  }
  const uploadId = created.UploadId;
  if (uploadId === undefined) throw new Error(`S3 CreateMultipartUpload for ${key} returned no UploadId`);

  const completed: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let uploaded = 0;
  let partNumber = 0;

  const startPart = (data: Buffer, release: () => void): void => {
    partNumber += 1;
    if (partNumber > MAX_PARTS) {
      throw new UserError(`${key} needs more than ${MAX_PARTS} parts of ${data.length} bytes`, {
        hint: "raise the S3 part size",
        code: "S3_TOO_MANY_PARTS",
      });
    }
    const number = partNumber;
    const task = (async () => {
      try {
        const out = await s3Call(context, "UploadPart", key, () =>
          client.send(
            new UploadPartCommand({
              Bucket: context.bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: number,
              Body: data,
              ContentLength: data.length,
            }),
          ),
        );
        if (out.ETag === undefined) throw new Error(`S3 UploadPart ${number} of ${key} returned no ETag`);
        request.slots?.give(data);
        completed.push({ PartNumber: number, ETag: out.ETag });
        uploaded += data.length;
        options.onProgress?.(uploaded);
      } catch (err) {
        failure ??= { error: err };
      } finally {
        release();
      }
    })();
    inFlight.add(task);
    void task.then(() => inFlight.delete(task));
  };

  const slot = async (): Promise<() => void> =>
    request.slots === undefined ? () => undefined : request.slots.acquire();
  const feed = async (data: Buffer, alreadyHashed: boolean, release: () => void): Promise<void> => {
    try {
      if (!alreadyHashed) verifier.add(data);
      // Once the body is longer than promised it will fail verification: keep hashing (the
      // error reports the real digest) but stop sending.
      if (verifier.oversized) return release();
      while (inFlight.size >= request.concurrency && failure === undefined) await Promise.race(inFlight);
      if (failure !== undefined) throw failure.error;
    } catch (err) {
      release();
      throw err;
    }
    startPart(data, release);
  };

  try {
    await feed(firstParts[0] as Buffer, true, firstRelease);
    for (const data of firstParts.slice(1)) await feed(data, false, await slot());
    // Take a slot first, then read the part: a blob waiting for a slot holds no part buffer.
    for (;;) {
      const release = await slot();
      const next = await rest.next().catch((err: unknown) => {
        release();
        throw err;
      });
      if (next.done === true) {
        release();
        break;
      }
      await feed(next.value, false, release);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure.error;
    const result = verifier.finish();
    completed.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    await s3Call(context, "CompleteMultipartUpload", key, () =>
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket: context.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: completed },
        }),
      ),
    );
    return result;
  } catch (err) {
    await rest.return(undefined);
    // Let parts already on the wire settle first, or one could land after the abort.
    await Promise.allSettled(inFlight);
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: context.bucket, Key: key, UploadId: uploadId }))
      .catch(() => {
        // Best effort: the original failure matters more. A bucket lifecycle rule for incomplete
        // multipart uploads cleans up whatever an abort could not (see docs/storage.md).
      });
    throw err;
  }
}
