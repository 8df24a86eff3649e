/**
 * S3 multipart uploads driven one part at a time, for callers that receive a blob over several
 * requests (the registry's resumable uploads) and keep the upload id and ETags themselves.
 * Every part is a Buffer, so its SHA-256 is in the signed `x-amz-content-sha256` header and S3
 * refuses bytes that changed on the way (see s3-upload.ts).
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { MAX_PARTS, MIN_PART_SIZE } from "./s3-client.js";
import { errorCode, s3Call, translateS3Error, type S3CallContext } from "./s3-errors.js";
import { assertObjectKey, type MultipartUploads, type PartBudget } from "./types.js";

export function s3MultipartUploads(
  client: S3Client,
  context: S3CallContext,
  budget?: PartBudget,
): MultipartUploads {
  const Bucket = context.bucket;
  return {
    ...(budget === undefined ? {} : { budget }),
    minPartSize: MIN_PART_SIZE,
    maxParts: MAX_PARTS,
    async create(key, options = {}) {
      assertObjectKey(key);
      const out = await s3Call(context, "CreateMultipartUpload", key, () =>
        client.send(
          new CreateMultipartUploadCommand({
            Bucket,
            Key: key,
            ...(options.contentType === undefined ? {} : { ContentType: options.contentType }),
            ...(options.publicRead === true ? { ACL: "public-read" } : {}),
          }),
        ),
      );
      if (out.UploadId === undefined) throw new Error(`S3 returned no upload id for ${key}`);
      return out.UploadId;
    },
    async uploadPart(key, uploadId, partNumber, body) {
      assertObjectKey(key);
      if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
        throw new Error(`part number ${partNumber} is outside 1..${MAX_PARTS}`);
      }
      const out = await s3Call(context, "UploadPart", key, () =>
        client.send(
          new UploadPartCommand({
            Bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: body,
            ContentLength: body.length,
          }),
        ),
      );
      if (out.ETag === undefined) throw new Error(`S3 returned no ETag for part ${partNumber} of ${key}`);
      return out.ETag;
    },
    async complete(key, uploadId, parts) {
      assertObjectKey(key);
      await s3Call(context, "CompleteMultipartUpload", key, () =>
        client.send(
          new CompleteMultipartUploadCommand({
            Bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.number, ETag: p.etag })) },
          }),
        ),
      );
    },
    async abort(key, uploadId) {
      assertObjectKey(key);
      try {
        await client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId }));
      } catch (err) {
        if (errorCode(err) === "NoSuchUpload") return;
        throw translateS3Error(err, { ...context, operation: "AbortMultipartUpload", key });
      }
    },
  };
}
