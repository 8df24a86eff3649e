/**
 * Server-side copy. CopyObject handles sources up to 5 GiB; larger ones need a multipart upload
 * whose parts are UploadPartCopy byte ranges of the source. No bytes pass through this process.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from "@aws-sdk/client-s3";
import { GIB, MAX_PARTS, MAX_PART_SIZE } from "./s3-client.js";
import { s3Call, type S3CallContext } from "./s3-errors.js";
import { encodeKeyPath } from "./s3-url.js";

/** CopyObject's limit. */
export const MAX_SINGLE_COPY = 5 * GIB;

export interface CopyRequest {
  client: S3Client;
  context: S3CallContext;
  fromKey: string;
  toKey: string;
  sourceSize: number;
  /** Replaces the source's content type when set. */
  contentType: string | undefined;
  /** Content type of the source, carried over by a multipart copy. */
  sourceContentType: string | undefined;
  publicRead: boolean;
  concurrency: number;
  /** Copy from this bucket of the same endpoint (promotion between environments); default: the same bucket. */
  fromBucket?: string;
}

/** Inclusive byte ranges for UploadPartCopy: 1 GiB parts, larger if 10,000 would not do. */
export function copyRanges(size: number): { first: number; last: number }[] {
  const partSize = Math.min(MAX_PART_SIZE, Math.max(GIB, Math.ceil(size / MAX_PARTS)));
  const ranges: { first: number; last: number }[] = [];
  for (let first = 0; first < size; first += partSize) {
    ranges.push({ first, last: Math.min(first + partSize, size) - 1 });
  }
  return ranges;
}

export async function copyObject(request: CopyRequest): Promise<void> {
  const { client, context, toKey } = request;
  const copySource = `${request.fromBucket ?? context.bucket}/${encodeKeyPath(request.fromKey)}`;
  const acl = request.publicRead ? { ACL: "public-read" as const } : {};
  if (request.sourceSize <= MAX_SINGLE_COPY) {
    await s3Call(context, "CopyObject", toKey, () =>
      client.send(
        new CopyObjectCommand({
          Bucket: context.bucket,
          Key: toKey,
          CopySource: copySource,
          ...(request.contentType === undefined
            ? { MetadataDirective: "COPY" }
            : { MetadataDirective: "REPLACE", ContentType: request.contentType }),
          ...acl,
        }),
      ),
    );
    return;
  }
  const contentType = request.contentType ?? request.sourceContentType;
  const created = await s3Call(context, "CreateMultipartUpload", toKey, () =>
    client.send(
      new CreateMultipartUploadCommand({
        Bucket: context.bucket,
        Key: toKey,
        ...(contentType === undefined ? {} : { ContentType: contentType }),
        ...acl,
      }),
    ),
  );
  const uploadId = created.UploadId;
  if (uploadId === undefined) throw new Error(`S3 CreateMultipartUpload for ${toKey} returned no UploadId`);
  try {
    const ranges = copyRanges(request.sourceSize);
    const parts: CompletedPart[] = [];
    // Server-side parts cost no local memory; the concurrency limit just keeps us polite.
    for (let start = 0; start < ranges.length; start += request.concurrency) {
      const batch = ranges.slice(start, start + request.concurrency);
      // allSettled: no part may still be copying when a failure leads to the abort below.
      const settled = await Promise.allSettled(
        batch.map(async (range, index) => {
          const partNumber = start + index + 1;
          const out = await s3Call(context, "UploadPartCopy", toKey, () =>
            client.send(
              new UploadPartCopyCommand({
                Bucket: context.bucket,
                Key: toKey,
                UploadId: uploadId,
                PartNumber: partNumber,
                CopySource: copySource,
                CopySourceRange: `bytes=${range.first}-${range.last}`,
              }),
            ),
          );
          const etag = out.CopyPartResult?.ETag;
          if (etag === undefined) {
            throw new Error(`S3 UploadPartCopy ${partNumber} of ${toKey} returned no ETag`);
          }
          return { PartNumber: partNumber, ETag: etag };
        }),
      );
      for (const outcome of settled) {
        if (outcome.status === "rejected") throw outcome.reason;
        parts.push(outcome.value);
      }
    }
    await s3Call(context, "CompleteMultipartUpload", toKey, () =>
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket: context.bucket,
          Key: toKey,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      ),
    );
  } catch (err) {
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: context.bucket, Key: toKey, UploadId: uploadId }))
      .catch(() => {
        // Best effort; the copy's own failure is what the user needs to see.
      });
    throw err;
  }
}
