import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
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
import { isNotFound, s3Call, translateS3Error, type S3CallContext } from "./s3-errors.js";
import { PartSlots, uploadObject } from "./s3-upload.js";
import { describeLocation, publicObjectUrl } from "./s3-url.js";
import {
  ObjectNotFoundError,
  assertSafeKey,
  type BlobStore,
  type ListedObject,
  type ObjectInfo,
  type PutOptions,
  type PutResult,
} from "./types.js";

export type { S3StoreOptions } from "./s3-client.js";

/** A list prefix is "" or a key, optionally ending with "/" (a folder). */
function assertSafePrefix(prefix: string): void {
  if (prefix !== "") assertSafeKey(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
}

export class S3Store implements BlobStore {
  readonly description: string;
  readonly bucket: string;
  readonly options: Readonly<ResolvedS3Options>;
  /** The SDK client, for presigning (see s3-presign.ts). */
  readonly client: S3Client;
  private readonly context: S3CallContext;
  private bucketConfirmed = false;
  private bucketCheck: Promise<boolean> | undefined;
  /** Multipart part buffers across all concurrent uploads (bounds memory, see s3-upload). */
  private readonly partSlots: PartSlots;

  constructor(options: S3StoreOptions) {
    this.options = resolveS3Options(options);
    this.bucket = this.options.bucket;
    this.description = describeLocation(this.options);
    this.client = createS3Client(options, this.options);
    this.partSlots = new PartSlots(this.options.concurrency, this.options.partSize);
    this.context = { bucket: this.bucket, endpoint: this.options.endpointLabel, where: this.description };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    assertSafeKey(key);
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
    assertSafeKey(key);
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
    assertSafeKey(key);
    const out = await s3Call(this.context, "GetObject", key, () =>
      this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })),
    );
    if (!(out.Body instanceof Readable)) throw new Error(`S3 GetObject ${key} returned no readable body`);
    return out.Body;
  }

  async getBuffer(key: string): Promise<Buffer> {
    const body = await this.get(key);
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    assertSafePrefix(prefix);
    let token: string | undefined;
    do {
      const page = await s3Call(this.context, "ListObjectsV2", prefix === "" ? undefined : prefix, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            ...(prefix === "" ? {} : { Prefix: prefix }),
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        ),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) {
          // A listing without a date would make an object look infinitely old to GC: use "now",
          // which keeps it for a whole grace period instead.
          yield { key: object.Key, size: object.Size ?? 0, lastModified: object.LastModified ?? new Date() };
        }
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key);
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
    assertSafeKey(fromKey);
    assertSafeKey(toKey);
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

  async probe(): Promise<void> {
    const key = `.raas-probe/${randomUUID()}`;
    const content = Buffer.from(`raas probe ${new Date().toISOString()}\n`);
    try {
      await this.put(key, content, { contentType: "text/plain", publicRead: false });
      const back = await this.getBuffer(key);
      if (!back.equals(content)) {
        throw new UserError(`${this.description} returned different bytes than were written to ${key}`, {
          hint: "the S3 endpoint is not behaving like S3; check proxies or the server's configuration",
          code: "S3_PROBE_FAILED",
        });
      }
    } finally {
      await this.delete(key).catch(() => undefined);
    }
  }

  /** The object's unsigned URL (anonymous readers need the object to be public-read). */
  publicUrl(key: string): string {
    return publicObjectUrl(this.options, key);
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

  /** Closes pooled connections; the store cannot be used afterwards. */
  close(): void {
    this.client.destroy();
  }
}
