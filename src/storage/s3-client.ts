import { S3Client } from "@aws-sdk/client-s3";
import { UserError } from "../errors.js";
import { assertBucketName, assertRegion, endpointLabel, parseEndpoint } from "./s3-url.js";

export const MIB = 1024 * 1024;
export const GIB = 1024 * MIB;
/** S3's limits: parts are 5 MiB..5 GiB (except the last), at most 10,000 per upload. */
export const MIN_PART_SIZE = 5 * MIB;
export const MAX_PART_SIZE = 5 * GIB;
export const MAX_PARTS = 10_000;

export interface S3StoreOptions {
  bucket: string;
  /** The ISV whose bucket this is, so hints can name the command to run. */
  isv?: string;
  /** Default us-east-1. */
  region?: string;
  /** Custom endpoint (MinIO, Ceph, s3rver); AWS when unset. */
  endpoint?: string;
  /** Default true when an endpoint is set (most non-AWS servers have no wildcard DNS). */
  forcePathStyle?: boolean;
  /** Otherwise the AWS default chain: environment, shared config/credentials files, SSO, IMDS... */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Named profile of the shared AWS config files, when no explicit credentials are given. */
  profile?: string;
  /** Multipart part size in bytes. Default 16 MiB, minimum 5 MiB. */
  partSize?: number;
  /** Parts in flight per upload. Default 4. */
  concurrency?: number;
  /** Attempts per S3 call, with the SDK's exponential backoff. Default 5. */
  maxAttempts?: number;
  /** Write objects with the public-read ACL unless a put says otherwise. Default false. */
  publicRead?: boolean;
  /** Receives one line per S3 call (operation, key, status, milliseconds); never credentials. */
  log?: (line: string) => void;
}

export interface ResolvedS3Options {
  bucket: string;
  region: string;
  endpoint: string | undefined;
  forcePathStyle: boolean;
  partSize: number;
  concurrency: number;
  maxAttempts: number;
  publicRead: boolean;
  log: ((line: string) => void) | undefined;
  /** For messages. */
  endpointLabel: string;
}

function positiveInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UserError(`invalid S3 ${name} ${value}: must be an integer from ${min} to ${max}`, {
      code: "BAD_CONFIG",
    });
  }
  return value;
}

export function resolveS3Options(options: S3StoreOptions): ResolvedS3Options {
  assertBucketName(options.bucket);
  const region = options.region ?? "us-east-1";
  assertRegion(region);
  const endpoint = options.endpoint === undefined ? undefined : parseEndpoint(options.endpoint).href;
  return {
    bucket: options.bucket,
    region,
    endpoint,
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    partSize: positiveInteger("part size", options.partSize ?? 16 * MIB, MIN_PART_SIZE, MAX_PART_SIZE),
    concurrency: positiveInteger("concurrency", options.concurrency ?? 4, 1, 64),
    maxAttempts: positiveInteger("max attempts", options.maxAttempts ?? 5, 1, 20),
    publicRead: options.publicRead ?? false,
    log: options.log,
    endpointLabel: endpointLabel({ endpoint, region }),
  };
}

interface LoggableInput {
  Key?: unknown;
  PartNumber?: unknown;
}

export function createS3Client(options: S3StoreOptions, resolved: ResolvedS3Options): S3Client {
  const client = new S3Client({
    region: resolved.region,
    ...(resolved.endpoint === undefined ? {} : { endpoint: resolved.endpoint }),
    forcePathStyle: resolved.forcePathStyle,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    maxAttempts: resolved.maxAttempts,
    retryMode: "standard",
    // Newer SDKs add CRC checksums (and aws-chunked bodies for streams) by default, which many
    // S3-compatible servers reject or store verbatim. Our bodies are buffers, so the signed
    // x-amz-content-sha256 header carries their SHA-256 instead (see s3-upload.ts).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // Fail fast on a dead endpoint; requestTimeout is socket inactivity, not total duration.
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
  });
  const log = resolved.log;
  if (log !== undefined) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const started = performance.now();
        const input = args.input as LoggableInput;
        const what = [
          `S3 ${(context.commandName ?? "request").replace(/Command$/, "")}`,
          typeof input.Key === "string" ? input.Key : undefined,
          typeof input.PartNumber === "number" ? `part ${input.PartNumber}` : undefined,
        ].filter((part) => part !== undefined);
        const elapsed = (): string => `${Math.round(performance.now() - started)}ms`;
        try {
          const result = await next(args);
          const meta = (result.output as { $metadata?: { httpStatusCode?: number; attempts?: number } })
            .$metadata;
          log(line([...what, String(meta?.httpStatusCode ?? "ok"), elapsed(), attempts(meta?.attempts)]));
          return result;
        } catch (err) {
          const meta = (err as { $metadata?: { httpStatusCode?: number; attempts?: number } }).$metadata;
          const status = meta?.httpStatusCode ?? (err as { code?: string }).code ?? "failed";
          log(line([...what, String(status), elapsed(), attempts(meta?.attempts)]));
          throw err;
        }
      },
      { step: "initialize", name: "raasLogging" },
    );
  }
  return client;
}

function line(parts: string[]): string {
  return parts.filter((part) => part !== "").join(" ");
}

function attempts(count: number | undefined): string {
  return count !== undefined && count > 1 ? `(${count} attempts)` : "";
}
