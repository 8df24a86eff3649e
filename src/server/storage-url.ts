import { assertSafeKey } from "../storage/types.js";
import type { ServerConfig } from "./config.js";
import { cdnRedirectUrl } from "./cdn.js";

/**
 * `privateTtl`: the content belongs to a repository not everyone may pull, so the URL must be a
 * presigned one valid that many seconds, never a public one (`[auth]`, docs/auth.md).
 */
export type StorageUrlFn = (
  key: string,
  method: "GET" | "HEAD",
  repoUrl: string,
  privateTtl?: number,
) => string | Promise<string>;

const withSlash = (url: string) => (url.endsWith("/") ? url : `${url}/`);

interface Presigner {
  sign(key: string, method: "GET" | "HEAD", ttl: number): Promise<string>;
}

/**
 * The AWS SDK is loaded only when presigning is configured, so a serve_content or public-URL
 * deployment of the registry app runs with no dependencies at all.
 */
async function createPresigner(storage: ServerConfig["storage"]): Promise<Presigner> {
  const { S3Client, GetObjectCommand, HeadObjectCommand } = await import("@aws-sdk/client-s3");
  const { getSignedUrl } = await import("@aws-sdk/s3-request-presigner");
  const client = new S3Client({
    region: storage.region,
    forcePathStyle: storage.forcePathStyle,
    ...(storage.endpoint === "" ? {} : { endpoint: storage.endpoint }),
  });
  return {
    // GET and HEAD need separate signatures: the method is part of what is signed.
    sign: (key, method, ttl) => {
      const input = { Bucket: storage.bucket, Key: key };
      const command = method === "HEAD" ? new HeadObjectCommand(input) : new GetObjectCommand(input);
      return getSignedUrl(client, command, { expiresIn: ttl });
    },
  };
}

/**
 * Whether a URL storageUrlBuilder returns as a string is the same for the same key for as long as
 * the server runs: it is, unless CDN tokens are on (they expire, so each request gets its own).
 * Presigned URLs are never strings.
 */
export const stableStorageUrls = (config: ServerConfig): boolean => config.cdn.authSecret === undefined;

/**
 * Where a storage key can be fetched by the client: a presigned S3 URL, `public_base_url/<key>`,
 * or the repository's metadata `url` plus the key below the repository prefix (how Crane
 * builds its redirects). Public URLs get Crane's CDN rewrite and token. A public URL is
 * returned as it is (the blob redirect then answers without waiting); only presigning returns a
 * promise. A key that is not safe throws.
 */
export function storageUrlBuilder(config: ServerConfig, now: () => Date): StorageUrlFn {
  let presigner: Promise<Presigner> | undefined;
  const presign = async (key: string, method: "GET" | "HEAD", privateTtl: number | undefined) => {
    if (config.storage.kind !== "s3" || config.storage.bucket === "") {
      // config.ts refuses [auth] without S3 or serve_content; this is the last line of defence.
      throw new Error("a private repository's content cannot be presigned without [storage] kind = s3");
    }
    presigner ??= createPresigner(config.storage).catch((err: unknown) => {
      presigner = undefined; // let the next request retry instead of caching the failure
      throw err;
    });
    const ttl =
      privateTtl === undefined ? config.storage.presignTtl : Math.min(privateTtl, config.storage.presignTtl);
    return (await presigner).sign(key, method, ttl);
  };
  return (key, method, repoUrl, privateTtl) => {
    assertSafeKey(key);
    if (config.storage.redirect === "presigned" || privateTtl !== undefined) {
      return presign(key, method, privateTtl);
    }
    const url =
      config.storage.publicBaseUrl !== ""
        ? withSlash(config.storage.publicBaseUrl) + key
        : withSlash(repoUrl) + key.slice(key.indexOf("/") + 1);
    return cdnRedirectUrl(url, config.cdn, now());
  };
}
