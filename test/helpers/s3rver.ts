/**
 * A real S3-protocol server (the s3rver package) on 127.0.0.1 for tests.
 *
 * What s3rver 3.7 does and does not check (read from its source, lib/middleware/authentication.js
 * and lib/routes.js), which decides what our tests can prove against it:
 * - Requests without any Authorization header or signature query are served anonymously: it has
 *   no ACLs, so a plain `fetch()` of `<endpoint>/<bucket>/<key>` works whether or not the object
 *   was written with `public-read`. Public-URL tests therefore prove the URL shape, not the ACL.
 * - Signed requests must use the access key id `S3RVER` (secret `S3RVER`); any other key id is
 *   rejected with 403 InvalidAccessKeyId. SigV4 signatures (what the AWS SDK v3 sends, also in
 *   presigned URLs) are NOT verified, so a wrong secret goes unnoticed; only SigV2 is checked.
 * - Multipart uploads work (initiate, UploadPart, complete), but AbortMultipartUpload answers
 *   405 MethodNotAllowed, ListMultipartUploads 501 NotImplemented and UploadPartCopy 501. The
 *   parts of an unfinished upload stay under `<directory>/<bucket>/._S3rver_uploads/`; they
 *   never become visible as an object.
 * - Its file store keeps each key as files in a directory per key segment, and after deleting an
 *   object it removes the directories left empty. A PUT into the same directory that made the
 *   directory and has not yet opened its file then fails to open it, and s3rver has no handler
 *   for that error, so it crashes the test process (seen in the gc race test). S3 has no
 *   directories, so `startS3rver` deletes an object's files and leaves the directories: listings
 *   are built from object files and do not change.
 */
import { mkdtemp, rm, unlink } from "node:fs/promises";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface S3rverOptions {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}

interface S3rverStore {
  getResourcePath(bucket: string, key: string, resourceType: string): string;
  deleteObject(bucket: string, key: string): Promise<void>;
}

interface S3rverInstance {
  store: S3rverStore;
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

type S3rverConstructor = new (options: S3rverOptions) => S3rverInstance;

// s3rver is CommonJS without type declarations; describe the little we use.
const require = createRequire(import.meta.url);
const S3rver = require("s3rver") as S3rverConstructor;

export interface RunningS3rver {
  endpoint: string;
  port: number;
  directory: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

/** The only key pair s3rver accepts for signed requests. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

export async function startS3rver(options: { buckets?: string[] } = {}): Promise<RunningS3rver> {
  const directory = await mkdtemp(join(tmpdir(), "raas-s3rver-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });
  keepDirectoriesOnDelete(server.store);
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    port: address.port,
    directory,
    credentials: { ...S3RVER_CREDENTIALS },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await server.close();
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    },
  };
}

/** Deletes the object's three files and no directory (see the note at the top). */
function keepDirectoriesOnDelete(store: S3rverStore): void {
  store.deleteObject = async (bucket, key) => {
    const files = ["object", "object.md5", "metadata.json"].map((type) =>
      store.getResourcePath(bucket, key, type),
    );
    await Promise.all(
      files.map((file) =>
        unlink(file).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "ENOENT") throw err;
        }),
      ),
    );
  };
}

/**
 * A raas.cfg storing on an S3 endpoint with public redirects, the way most tests run against
 * s3rver; with `isv`, that ISV's section names its bucket; `extra` lines are appended as they are.
 */
export function s3RaasConfig(options: {
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  isv?: string;
  bucket?: string;
  extra?: string[];
}): string {
  return [
    "[raas]",
    "storage = s3",
    "[s3]",
    `endpoint = ${options.endpoint}`,
    "redirect = public",
    "public_read = true",
    "[aws]",
    `aws_access_key = ${options.credentials.accessKeyId}`,
    `aws_secret_access_key = ${options.credentials.secretAccessKey}`,
    ...(options.isv === undefined
      ? []
      : [`[${options.isv}]`, `s3_bucket = ${options.bucket ?? `raas-${options.isv}`}`]),
    ...(options.extra ?? []),
    "",
  ].join("\n");
}
