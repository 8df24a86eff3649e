import { InputError } from "../errors.js";
import type { Blob } from "../image/model.js";
import {
  DigestMismatchError,
  ObjectNotFoundError,
  type BlobStore,
  type ObjectInfo,
} from "../storage/types.js";
import type { Reporter } from "../ui/reporter.js";
import { blobKey } from "./keys.js";
import { mapLimit } from "./pool.js";

export type BlobAction = "uploaded" | "present" | "masked";

export interface BlobOutcome {
  digest: string;
  size: number;
  mediaType: string;
  action: BlobAction;
  /** The mask entry that matched, for masked layers. */
  maskedBy?: string;
}

export interface UploadOptions {
  store: BlobStore;
  repository: string;
  reporter: Reporter;
  /** Blobs uploaded at the same time (each may itself upload several parts at once). */
  concurrency: number;
  publicRead: boolean;
  /** Which stored blobs may be trusted instead of uploaded (see ReuseRule); all when unset. */
  reuse?: ReuseRule;
}

/**
 * Garbage collection may delete a blob no committed metadata references once it is older than
 * its grace period. So a push trusts a stored blob as it is only when the metadata it started
 * from references it, or when it was written after the push started (another push uploading
 * the same layer); any other stored blob (left by a deletion or an interrupted push) is first
 * refreshed with a server-side copy onto itself, which makes it young again (docs/gc.md).
 */
export interface ReuseRule {
  referenced: ReadonlySet<string>;
  writtenSince: Date;
}

export function mayReuse(rule: ReuseRule | undefined, id: string, lastModified: Date | undefined): boolean {
  if (rule === undefined || rule.referenced.has(id)) return true;
  return lastModified !== undefined && lastModified.getTime() >= rule.writtenSince.getTime();
}

/**
 * Whether a stored object (found by HEAD) can count as present: trusted as it is, or refreshed.
 * False when it vanished meanwhile (a GC run got there first): the caller uploads it.
 */
export async function keepStored(
  store: BlobStore,
  key: string,
  info: ObjectInfo,
  options: { rule: ReuseRule | undefined; id: string; publicRead: boolean },
): Promise<boolean> {
  if (mayReuse(options.rule, options.id, info.lastModified)) return true;
  try {
    await store.copy(key, key, {
      contentType: info.contentType ?? "application/octet-stream",
      publicRead: options.publicRead,
    });
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return false;
    throw error;
  }
  // S3 dates an in-place copy anew; some S3-compatible servers (s3rver) keep the old date, and
  // then only an upload makes the object young. Dates have one-second precision.
  const after = await store.head(key);
  const since = Math.floor((options.rule?.writtenSince.getTime() ?? 0) / 1000) * 1000;
  return after !== undefined && (after.lastModified?.getTime() ?? 0) >= since;
}

/** HEAD every blob; a blob already stored with the right size is not uploaded again (see ReuseRule). */
export async function findMissing(blobs: readonly Blob[], options: UploadOptions): Promise<Blob[]> {
  const present = await mapLimit(blobs, 16, async (blob) => {
    const key = blobKey(options.repository, blob.digest);
    const info = await options.store.head(key);
    if (info === undefined || info.size !== blob.size) return false;
    return keepStored(options.store, key, info, {
      rule: options.reuse,
      id: blob.digest,
      publicRead: options.publicRead,
    });
  });
  return blobs.filter((_, i) => present[i] !== true);
}

/**
 * Upload blobs, each verified against its digest and size while it streams; the store only
 * makes an object visible once it matched. A mismatch is the input's fault: it names the file.
 */
export async function uploadBlobs(blobs: readonly Blob[], options: UploadOptions): Promise<number> {
  const total = blobs.reduce((sum, b) => sum + b.size, 0);
  if (blobs.length === 0) return 0;
  const step = options.reporter.step(`Uploading ${blobs.length} blob(s), ${formatBytes(total)}`);
  const done = new Map<string, number>();
  const started = Date.now();
  const progress = (): void => {
    const sent = [...done.values()].reduce((a, b) => a + b, 0);
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? ` at ${formatBytes(sent / seconds)}/s` : "";
    step.update(`${formatBytes(sent)} / ${formatBytes(total)}${rate}`);
  };
  try {
    await mapLimit(blobs, options.concurrency, async (blob) => {
      const key = blobKey(options.repository, blob.digest);
      const t0 = Date.now();
      try {
        await options.store.put(key, blob.open(), {
          digest: blob.digest,
          size: blob.size,
          contentType: "application/octet-stream",
          publicRead: options.publicRead,
          onProgress: (bytes) => {
            done.set(blob.digest, bytes);
            progress();
          },
        });
      } catch (error) {
        if (error instanceof DigestMismatchError) {
          throw new InputError(
            blob.origin,
            `content does not match its digest: the image says ${blob.digest} (${blob.size} bytes), ` +
              `the bytes are ${error.actual.digest} (${error.actual.size} bytes)`,
            {
              code: "DIGEST_MISMATCH",
              cause: error,
              hint: "The archive is corrupt or was modified; export it again.",
            },
          );
        }
        throw error;
      }
      done.set(blob.digest, blob.size);
      options.reporter.debug(`uploaded ${key} (${formatBytes(blob.size)}) in ${Date.now() - t0} ms`);
    });
  } catch (error) {
    step.fail(`Upload failed`);
    throw error;
  }
  const seconds = (Date.now() - started) / 1000;
  step.succeed(
    `Uploaded ${blobs.length} blob(s), ${formatBytes(total)} in ${seconds.toFixed(1)} s` +
      (seconds > 0 ? ` (${formatBytes(total / seconds)}/s)` : ""),
  );
  return total;
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
