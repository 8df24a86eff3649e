import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectAclCommand,
  type BucketLocationConstraint,
  type S3Client,
} from "@aws-sdk/client-s3";
import { UserError } from "../errors.js";
import {
  createS3Client,
  resolveS3Options,
  type ResolvedS3Options,
  type S3StoreOptions,
} from "./s3-client.js";
import { copyObject } from "./s3-copy.js";
import { isNotFound, retryTransient, s3Call, translateS3Error, type S3CallContext } from "./s3-errors.js";
import { s3MultipartUploads } from "./s3-multipart.js";
import { PartSlots, uploadObject } from "./s3-upload.js";
import { describeLocation, publicObjectUrl } from "./s3-url.js";
import {
  DigestMismatchError,
  ObjectNotFoundError,
  StoreClosedError,
  assertObjectKey,
  assertSafeKey,
  type BlobStore,
  type ListedObject,
  type MultipartUploads,
  type ObjectInfo,
  type PartialWrite,
  type PutOptions,
  type PutResult,
  PROBE_PREFIX,
} from "./types.js";

export type { S3StoreOptions } from "./s3-client.js";

/** A list prefix is "" or a key, optionally ending with "/" (a folder). */
function assertSafePrefix(prefix: string): void {
  if (prefix !== "") assertSafeKey(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
}

export class S3Store implements BlobStore {
  readonly description: string;
  readonly bucket: string;
  readonly container: string;
  /** A bucket is billed and its name is global: setup creates one only with --create. */
  readonly createNeedsConsent = true;
  private closed = false;
  /** Aborted by close(): streamed uploads in flight stop. */
  private readonly closing = new AbortController();
  readonly options: Readonly<ResolvedS3Options>;
  /** The SDK client (tests hook its middleware stack to watch the requests made). */
  readonly client: S3Client;
  private readonly context: S3CallContext;
  private bucketConfirmed = false;
  private bucketCheck: Promise<boolean> | undefined;
  /** Multipart part buffers across all concurrent uploads (bounds memory, see s3-upload). */
  private readonly partSlots: PartSlots;
  readonly multipart: MultipartUploads;

  constructor(options: S3StoreOptions) {
    this.options = resolveS3Options(options);
    this.bucket = this.options.bucket;
    this.description = describeLocation(this.options);
    this.container = `the S3 bucket ${this.bucket}`;
    this.client = createS3Client(options, this.options);
    this.partSlots = new PartSlots(this.options.concurrency, this.options.partSize);
    this.context = {
      bucket: this.bucket,
      endpoint: this.options.endpointLabel,
      where: this.description,
      ...(options.isv === undefined ? {} : { isv: options.isv }),
    };
    this.multipart = s3MultipartUploads(this.client, this.context, this.partSlots);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    assertObjectKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      this.bucketConfirmed = true;
      return {
        size: out.ContentLength ?? 0,
        ...(out.ContentType === undefined ? {} : { contentType: out.ContentType }),
        ...(out.LastModified === undefined ? {} : { lastModified: out.LastModified }),
      };
    } catch (err) {
      // HEAD answers have no body, so a missing bucket is also a bare 404: tell them apart,
      // once (publishing heads many missing blobs; buckets do not vanish mid-run).
      if (isNotFound(err)) {
        // One HeadBucket shared by the HEADs in flight, not one each (the first push HEADs
        // every blob at once, before anything confirmed the bucket).
        if (this.bucketConfirmed) return undefined;
        this.bucketCheck ??= this.bucketExists().finally(() => (this.bucketCheck = undefined));
        if (await this.bucketCheck) return undefined;
        throw translateS3Error({ name: "NoSuchBucket" }, { ...this.context, operation: "HeadObject", key });
      }
      throw translateS3Error(err, { ...this.context, operation: "HeadObject", key });
    }
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<PutResult> {
    assertObjectKey(key);
    if (this.closed) {
      if (!Buffer.isBuffer(body)) body.destroy();
      throw new StoreClosedError(key, this.description);
    }
    // close() ends a streamed upload in flight: its body fails, so no further part is read or
    // sent and a multipart upload is never completed (client.destroy alone only drops idle
    // sockets, and the SDK would retry a request it cut on a new one).
    const stop = (): void => {
      if (!Buffer.isBuffer(body)) body.destroy(new StoreClosedError(key, this.description));
    };
    this.closing.signal.addEventListener("abort", stop, { once: true });
    try {
      return await this.upload(key, body, options);
    } catch (err) {
      if (this.closed && !(err instanceof DigestMismatchError)) {
        throw new StoreClosedError(key, this.description);
      }
      throw err;
    } finally {
      this.closing.signal.removeEventListener("abort", stop);
    }
  }

  private upload(key: string, body: Readable | Buffer, options: PutOptions): Promise<PutResult> {
    return uploadObject(
      {
        client: this.client,
        context: this.context,
        key,
        contentType: options.contentType,
        publicRead: options.publicRead ?? this.options.publicRead,
        partSize: this.options.partSize,
        concurrency: this.options.concurrency,
        slots: this.partSlots,
      },
      body,
      options,
    );
  }

  async get(key: string): Promise<Readable> {
    assertObjectKey(key);
    return this.read(key);
  }

  private async read(key: string): Promise<Readable> {
    const out = await s3Call(this.context, "GetObject", key, () =>
      this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })),
    );
    if (!(out.Body instanceof Readable)) throw new Error(`S3 GetObject ${key} returned no readable body`);
    return out.Body;
  }

  async getBuffer(key: string): Promise<Buffer> {
    assertObjectKey(key);
    return this.readBuffer(key);
  }

  private async readBuffer(key: string): Promise<Buffer> {
    const body = await this.read(key);
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  /**
   * ListObjects (version 1) paged by `Marker`, the last key of the previous page: for a listing
   * without a delimiter the same result as ListObjectsV2 on every S3 implementation, a page can
   * be asked again after a failure without a token that expires, and it works on s3rver, whose
   * ListObjectsV2 answers 500 to every listing longer than one page on Node 17+ (it encrypts
   * its continuation tokens with DES, which OpenSSL 3 disables). A page that fails transiently
   * is asked again (retryTransient), so a long listing survives a store that fails now and then.
   */
  async *list(prefix: string): AsyncIterable<ListedObject> {
    assertSafePrefix(prefix);
    let after: string | undefined;
    for (;;) {
      const startAfter = after;
      const page = await s3Call(this.context, "ListObjects", prefix === "" ? undefined : prefix, () =>
        retryTransient(() =>
          this.client.send(
            new ListObjectsCommand({
              Bucket: this.bucket,
              ...(prefix === "" ? {} : { Prefix: prefix }),
              ...(startAfter === undefined ? {} : { Marker: startAfter }),
            }),
          ),
        ),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        after = object.Key;
        // Probe objects are not objects of the store (as on the local store); leftoverProbes() sees them.
        if (object.Key.startsWith(PROBE_PREFIX) && !prefix.startsWith(PROBE_PREFIX)) continue;
        // A listing without a date would make an object look infinitely old to GC: use "now",
        // which keeps it for a whole grace period instead.
        yield { key: object.Key, size: object.Size ?? 0, lastModified: object.LastModified ?? new Date() };
      }
      // A truncated page that names no key cannot be continued from: stop rather than loop.
      if (page.IsTruncated !== true || after === startAfter) return;
    }
  }

  async delete(key: string): Promise<void> {
    assertObjectKey(key);
    await this.remove(key);
  }

  private async remove(key: string): Promise<void> {
    // S3 answers 204 for a missing key as well.
    await s3Call(this.context, "DeleteObject", key, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })),
    );
  }

  async copy(
    fromKey: string,
    toKey: string,
    options: Pick<PutOptions, "contentType" | "publicRead"> = {},
  ): Promise<void> {
    assertObjectKey(fromKey);
    assertObjectKey(toKey);
    const source = await this.head(fromKey);
    if (source === undefined) throw new ObjectNotFoundError(fromKey, this.description);
    await copyObject({
      client: this.client,
      context: this.context,
      fromKey,
      toKey,
      sourceSize: source.size,
      contentType: options.contentType,
      sourceContentType: source.contentType,
      publicRead: options.publicRead ?? this.options.publicRead,
      concurrency: this.options.concurrency,
    });
  }

  /**
   * Server-side copy of `key` from another bucket on the same endpoint (and credentials) into
   * this one, under the same key: promotion between environments with buckets of their own.
   */
  async copyFromBucket(
    source: S3Store,
    key: string,
    options: Pick<PutOptions, "contentType" | "publicRead"> = {},
  ): Promise<void> {
    assertObjectKey(key);
    const info = await source.head(key);
    if (info === undefined) throw new ObjectNotFoundError(key, source.description);
    await copyObject({
      client: this.client,
      context: this.context,
      fromKey: key,
      toKey: key,
      fromBucket: source.bucket,
      sourceSize: info.size,
      contentType: options.contentType,
      sourceContentType: info.contentType,
      publicRead: options.publicRead ?? this.options.publicRead,
      concurrency: this.options.concurrency,
    });
  }

  async probe(): Promise<void> {
    const key = `${PROBE_PREFIX}${randomUUID()}`;
    const content = Buffer.from(`raas probe ${new Date().toISOString()}\n`);
    try {
      await this.upload(key, content, { contentType: "text/plain", publicRead: false });
      const back = await this.readBuffer(key);
      if (!back.equals(content)) {
        throw new UserError(`${this.description} returned different bytes than were written to ${key}`, {
          hint: "the S3 endpoint is not behaving like S3; check proxies or the server's configuration",
          code: "S3_PROBE_FAILED",
        });
      }
    } finally {
      await this.remove(key).catch(() => undefined);
    }
  }

  /** The object's unsigned URL (anonymous readers need the object to be public-read). */
  publicUrl(key: string): string {
    return publicObjectUrl(this.options, key);
  }

  anonymousUrl(key: string): string {
    assertObjectKey(key);
    return this.publicUrl(key);
  }

  /** PutObjectAcl: no bytes are copied, whatever the object's size. */
  async makePublicRead(key: string): Promise<void> {
    assertObjectKey(key);
    await s3Call(this.context, "PutObjectAcl", key, () =>
      this.client.send(new PutObjectAclCommand({ Bucket: this.bucket, Key: key, ACL: "public-read" })),
    );
  }

  exists(): Promise<boolean> {
    return this.bucketExists();
  }

  create(): Promise<void> {
    return this.createBucket();
  }

  async leftoverProbes(): Promise<string[]> {
    const keys: string[] = [];
    for await (const object of this.list(PROBE_PREFIX)) keys.push(object.key);
    return keys;
  }

  async removeLeftoverProbes(): Promise<number> {
    const keys = await this.leftoverProbes();
    for (const key of keys) {
      assertSafeKey(key);
      await this.remove(key);
    }
    return keys.length;
  }

  /**
   * Every S3 write is one PUT or a multipart upload that raas aborts when it fails; a process
   * killed mid-upload leaves an incomplete multipart upload, which S3 never shows as an object
   * and a bucket lifecycle rule (AbortIncompleteMultipartUpload) removes (docs/storage.md).
   */
  partialWrites(): Promise<PartialWrite[]> {
    return Promise.resolve([]);
  }

  removePartialWrites(): Promise<number> {
    return Promise.resolve(0);
  }

  async bucketExists(): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      this.bucketConfirmed = true;
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw translateS3Error(err, { ...this.context, operation: "HeadBucket" });
    }
  }

  async createBucket(): Promise<void> {
    // Outside us-east-1, AWS wants the region restated as the location constraint.
    const location =
      this.options.endpoint === undefined && this.options.region !== "us-east-1"
        ? {
            CreateBucketConfiguration: {
              LocationConstraint: this.options.region as BucketLocationConstraint,
            },
          }
        : {};
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket, ...location }));
    } catch (err) {
      const name = err instanceof Error ? err.name : "";
      if (name === "BucketAlreadyOwnedByYou") return;
      // Servers differ on re-creating your own bucket (AWS us-east-1 says OK, others
      // BucketAlreadyExists); only someone else's bucket refuses HeadBucket.
      if (name === "BucketAlreadyExists" && (await this.bucketExists().catch(() => false))) return;
      if (name === "BucketAlreadyExists") {
        throw new UserError(`the S3 bucket name ${this.bucket} is already taken by another account`, {
          hint: "bucket names are global on AWS; choose another one",
          code: "S3_BUCKET_TAKEN",
          cause: err,
        });
      }
      throw translateS3Error(err, { ...this.context, operation: "CreateBucket" });
    }
  }

  /** Closes pooled connections and ends uploads in flight; the store cannot be used afterwards. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.closing.abort();
      this.client.destroy();
    }
    return Promise.resolve();
  }
}
