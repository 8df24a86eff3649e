/**
 * Pure S3 URL helpers. No SDK import, so the registry server can build redirect URLs cheaply.
 */
import { UserError } from "../errors.js";
import { assertSafeKey } from "./types.js";

export interface S3Location {
  /** Custom endpoint (MinIO, Ceph, s3rver...); AWS when unset. */
  endpoint?: string;
  region: string;
  bucket: string;
  forcePathStyle: boolean;
}

// AWS rules for new buckets (3-63 chars, lowercase letters, digits, dots, hyphens, alphanumeric
// at both ends); MinIO and Ceph enforce the same. Checked before a bucket ever reaches a URL.
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION_RE = /^[a-z0-9-]{1,64}$/;

export function assertBucketName(bucket: string): void {
  if (!BUCKET_RE.test(bucket) || bucket.includes("..")) {
    throw new UserError(`invalid S3 bucket name ${JSON.stringify(bucket)}`, {
      hint: "bucket names are 3-63 characters: lowercase letters, digits, dots and hyphens",
      code: "BAD_CONFIG",
    });
  }
}

export function assertRegion(region: string): void {
  if (!REGION_RE.test(region)) {
    throw new UserError(`invalid S3 region ${JSON.stringify(region)}`, {
      hint: "use a region name such as us-east-1",
      code: "BAD_CONFIG",
    });
  }
}

/**
 * Parses a custom endpoint into a URL without a trailing slash. Only http and https make sense,
 * and credentials embedded in the URL are refused so they cannot leak into messages and logs.
 */
export function parseEndpoint(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UserError(`invalid S3 endpoint ${JSON.stringify(endpoint)}: not a URL`, {
      hint: "use a URL such as https://s3.example.com or http://127.0.0.1:9000",
      code: "BAD_CONFIG",
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UserError(
      `invalid S3 endpoint ${url.protocol}//${url.host}: only http and https are supported`,
      {
        code: "BAD_CONFIG",
      },
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new UserError(
      `invalid S3 endpoint ${url.protocol}//${url.host}: credentials do not belong in the URL`,
      {
        hint: "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the [aws] settings instead",
        code: "BAD_CONFIG",
      },
    );
  }
  if (url.search !== "" || url.hash !== "") {
    throw new UserError(`invalid S3 endpoint ${url.protocol}//${url.host}: no query or fragment allowed`, {
      code: "BAD_CONFIG",
    });
  }
  return url;
}

/**
 * Percent-encodes every segment of a (safe) key. `+` must be encoded because S3 has historically
 * decoded it as a space in paths; `:` stays literal (valid in a path, and `sha256:` reads better).
 */
export function encodeKeyPath(key: string): string {
  assertSafeKey(key);
  return key
    .split("/")
    .map((segment) => encodeURIComponent(segment).replaceAll("%3A", ":"))
    .join("/");
}

/** The unsigned URL of an object; it only works for anonymous readers if the object is public-read. */
export function publicObjectUrl(location: S3Location, key: string): string {
  assertBucketName(location.bucket);
  assertRegion(location.region);
  const path = encodeKeyPath(key);
  if (location.endpoint === undefined) {
    return location.forcePathStyle
      ? `https://s3.${location.region}.amazonaws.com/${location.bucket}/${path}`
      : `https://${location.bucket}.s3.${location.region}.amazonaws.com/${path}`;
  }
  const url = parseEndpoint(location.endpoint);
  const base = url.pathname.replace(/\/+$/, "");
  if (location.forcePathStyle) {
    return `${url.protocol}//${url.host}${base}/${location.bucket}/${path}`;
  }
  return `${url.protocol}//${location.bucket}.${url.host}${base}/${path}`;
}

/** How a store is named in messages: never includes credentials. */
export function describeLocation(location: Pick<S3Location, "endpoint" | "region" | "bucket">): string {
  if (location.endpoint === undefined) return `s3://${location.bucket} (AWS ${location.region})`;
  const url = parseEndpoint(location.endpoint);
  return `s3://${location.bucket} at ${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

/** The endpoint as shown in messages: custom endpoint, or the regional AWS host. */
export function endpointLabel(location: Pick<S3Location, "endpoint" | "region">): string {
  if (location.endpoint === undefined) return `https://s3.${location.region}.amazonaws.com`;
  const url = parseEndpoint(location.endpoint);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}
