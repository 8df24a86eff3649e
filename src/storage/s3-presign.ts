/**
 * Presigned GET URLs, for registries whose objects stay private: the server redirects clients
 * to a URL that carries a time-limited signature instead of the credentials themselves.
 */
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { UserError } from "../errors.js";
import { translateS3Error } from "./s3-errors.js";
import type { S3Store } from "./s3.js";
import { assertSafeKey } from "./types.js";

/** SigV4 presigned URLs live at most 7 days. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

export async function presignedGetUrl(
  store: S3Store,
  key: string,
  options: { expiresInSeconds?: number } = {},
): Promise<string> {
  assertSafeKey(key);
  const expiresIn = options.expiresInSeconds ?? 3600;
  if (!Number.isSafeInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_PRESIGN_SECONDS) {
    throw new UserError(`invalid presigned URL lifetime ${expiresIn}s: must be 1 to ${MAX_PRESIGN_SECONDS}`, {
      code: "BAD_CONFIG",
    });
  }
  try {
    return await getSignedUrl(store.client, new GetObjectCommand({ Bucket: store.bucket, Key: key }), {
      expiresIn,
    });
  } catch (err) {
    // Signing is local; what can fail is finding credentials.
    throw translateS3Error(err, {
      bucket: store.bucket,
      endpoint: store.options.endpointLabel,
      where: store.description,
      operation: "presign GetObject",
      key,
    });
  }
}
