/**
 * The one place S3 SDK and network errors become messages a user can act on. Messages name the
 * bucket, endpoint and key, never a credential (SDK messages for auth failures can echo the
 * string-to-sign, so ours are written from scratch).
 */
import { UserError } from "../errors.js";
import { networkError, type TlsHints } from "../network-errors.js";
import { ObjectNotFoundError } from "./types.js";

/** Where an S3 endpoint's TLS is set: its URL's scheme, and Node's extra CA bundle. */
const S3_TLS: TlsHints = {
  notTls: "Write the endpoint with http:// ([s3] endpoint, or --s3-endpoint) if it serves plain HTTP.",
  certificate:
    "Trust the authority that signed it with NODE_EXTRA_CA_CERTS=<pem file>, or check [s3] endpoint (--s3-endpoint).",
};

export interface S3ErrorContext {
  /** SDK command name, e.g. "PutObject". */
  operation: string;
  bucket: string;
  /** The ISV whose bucket this is, for hints. */
  isv?: string;
  /** Shown endpoint (see endpointLabel). */
  endpoint: string;
  /** Store description for ObjectNotFoundError. */
  where: string;
  key?: string;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ECONNABORTED",
  "TimeoutError",
  "RequestTimeout",
]);

const AUTH_CODES = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AccessDenied",
  "ExpiredToken",
  "InvalidToken",
  "TokenRefreshRequired",
]);

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  errors?: unknown;
  $metadata?: { httpStatusCode?: number };
}

function shape(err: unknown): ErrorShape {
  return typeof err === "object" && err != null ? err : {};
}

/** A network-level failure code (ECONNREFUSED, ...) found on the error, its causes or its aggregate. */
export function networkCode(err: unknown, depth = 0): string | undefined {
  if (depth > 4) return undefined;
  const e = shape(err);
  for (const candidate of [e.code, e.name]) {
    if (typeof candidate === "string" && NETWORK_CODES.has(candidate)) return candidate;
  }
  if (typeof e.message === "string" && /socket hang up/i.test(e.message)) return "socket hang up";
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const code = networkCode(inner, depth + 1);
      if (code !== undefined) return code;
    }
  }
  if (err instanceof Error && err.cause !== undefined) return networkCode(err.cause, depth + 1);
  return undefined;
}

export function httpStatus(err: unknown): number | undefined {
  return shape(err).$metadata?.httpStatusCode;
}

export function errorCode(err: unknown): string {
  const e = shape(err);
  if (typeof e.name === "string" && e.name !== "Error" && e.name !== "Unknown") return e.name;
  if (typeof e.code === "string") return e.code;
  const status = httpStatus(err);
  return status === undefined ? "unknown error" : `HTTP ${status}`;
}

/** True for "no such object" answers (GetObject says NoSuchKey, HeadObject only 404). */
export function isNotFound(err: unknown): boolean {
  const code = errorCode(err);
  if (code === "NoSuchBucket") return false;
  return code === "NoSuchKey" || code === "NotFound" || httpStatus(err) === 404;
}

export function translateS3Error(err: unknown, context: S3ErrorContext): Error {
  if (err instanceof UserError || err instanceof ObjectNotFoundError) return err;
  const target = `s3://${context.bucket}` + (context.key === undefined ? "" : `/${context.key}`);
  const network = networkError(err, `the S3 endpoint ${context.endpoint}`, {
    code: "S3_UNREACHABLE",
    tlsHints: S3_TLS,
  });
  if (network !== undefined) return network;
  const code = errorCode(err);
  if (code === "CredentialsProviderError") {
    return new UserError(`no S3 credentials found for ${context.endpoint}`, {
      hint: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, an AWS profile, or the [aws] settings in raas.cfg",
      code: "S3_NO_CREDENTIALS",
      cause: err,
    });
  }
  if (code === "NoSuchBucket") {
    return new UserError(`the S3 bucket ${context.bucket} does not exist at ${context.endpoint}`, {
      hint:
        context.isv === undefined
          ? "run `raas setup <isv> --create` to create it, or check the bucket name"
          : `run \`raas setup ${context.isv} --create\` to create it, or check the bucket name`,
      code: "S3_NO_SUCH_BUCKET",
      cause: err,
    });
  }
  if (AUTH_CODES.has(code) || httpStatus(err) === 403) {
    const why = code.startsWith("HTTP") ? "access denied" : code;
    return new UserError(`S3 refused ${context.operation} on ${target} at ${context.endpoint}: ${why}`, {
      hint:
        "check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the [aws] settings in raas.cfg) " +
        "and that they may read and write this bucket",
      code: "S3_ACCESS_DENIED",
      cause: err,
    });
  }
  if (context.key !== undefined && isNotFound(err)) {
    return new ObjectNotFoundError(context.key, context.where);
  }
  const status = httpStatus(err);
  if (status !== undefined) {
    const detail = typeof shape(err).message === "string" ? `: ${String(shape(err).message)}` : "";
    // Bodiless answers (HEAD) have no error code, only the status: do not say it twice.
    const what = code === `HTTP ${status}` ? code : `${code} (HTTP ${status})`;
    return new UserError(
      `S3 ${context.operation} on ${target} at ${context.endpoint} failed with ${what}${detail}`,
      {
        code: "S3_ERROR",
        cause: err,
        // The SDK already retried server errors and throttling with backoff before we got here.
        ...(status >= 500
          ? { hint: "the S3 endpoint kept failing after several retries; check its health and try again" }
          : {}),
      },
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** What every S3 call needs to run and to explain its failure. */
export interface S3CallContext {
  bucket: string;
  /** The ISV whose bucket this is, for hints. */
  isv?: string;
  endpoint: string;
  where: string;
}

/** Runs one SDK call and translates its failure (see translateS3Error). */
export async function s3Call<T>(
  context: S3CallContext,
  operation: string,
  key: string | undefined,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw translateS3Error(err, { ...context, operation, ...(key === undefined ? {} : { key }) });
  }
}

/** A 5xx, a throttling answer or a connection failure: worth asking again. */
export function isTransient(err: unknown): boolean {
  const status = httpStatus(err);
  if (status !== undefined) return status >= 500 || status === 429;
  const code = errorCode(err);
  return (
    code === "SlowDown" || code === "Throttling" || code === "InternalError" || networkCode(err) !== undefined
  );
}

/**
 * Run `attempt` again on a transient failure, up to `retries` more times, waiting
 * `baseMs * 2^n` (with jitter, capped at 10 s) between attempts. For calls whose repetition is
 * harmless (a listing page), on top of the S3 client's own retries: a store that fails one page
 * under load (a 500 or a SlowDown on one listing page) costs one page again, not the listing.
 */
export async function retryTransient<T>(
  attempt: () => Promise<T>,
  retries = 4,
  baseMs = 500,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (n >= retries || !isTransient(err)) throw err;
      const wait = Math.min(10_000, baseMs * 2 ** n);
      await sleep(wait / 2 + Math.random() * (wait / 2));
    }
  }
}
