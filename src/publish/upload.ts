import { InputError } from "../errors.js";
import type { Blob } from "../image/model.js";
import {
  DigestMismatchError,
  ObjectNotFoundError,
  type BlobStore,
  type ObjectInfo,
} from "../storage/types.js";
import type { Reporter } from "../ui/reporter.js";
import { blobKey } from "../crane/keys.js";
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
  /**
   * Blobs sending at the same time (each may itself upload several parts at once); a blob whose
   * bytes are all sent makes room for the next while the store completes it.
   */
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
    const rate = formatRate(sent, seconds);
    step.update(`${formatBytes(sent)} / ${formatBytes(total)}${rate === undefined ? "" : ` at ${rate}`}`);
  };
  try {
    await mapLimitUntilSent(blobs, options.concurrency, async (blob, sent) => {
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
            if (bytes >= blob.size) sent();
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
  const rate = formatRate(total, seconds);
  step.succeed(
    `Uploaded ${blobs.length} blob(s), ${formatBytes(total)} in ${seconds.toFixed(1)} s` +
      (rate === undefined ? "" : ` (${rate})`),
  );
  return total;
}

/**
 * Like mapLimit, but an item gives its turn to the next one as soon as it calls `sent()` (all its
 * bytes are on the wire), not only when it settles. The end of a multipart upload is S3
 * assembling the parts (seconds for a large blob on some servers) and the digest check; the next
 * blob reads and sends meanwhile. Memory stays bounded by the store's part slots, which a blob
 * that has sent everything no longer holds. Rejects with the first error once every started
 * item has settled.
 */
export async function mapLimitUntilSent<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, sent: () => void) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const running: Promise<void>[] = [];
  let wake: (() => void) | undefined;
  let turns = Math.max(1, limit);
  const giveBack = (): void => {
    turns += 1;
    wake?.();
  };
  while (next < items.length && failure === undefined) {
    if (turns === 0) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      continue;
    }
    turns -= 1;
    const item = items[next++] as T;
    let given = false;
    const sent = (): void => {
      if (given) return;
      given = true;
      giveBack();
    };
    running.push(
      work(item, sent)
        .catch((error: unknown) => {
          failure ??= { error };
        })
        .finally(sent),
    );
  }
  await Promise.all(running);
  if (failure !== undefined) throw failure.error;
}

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/**
 * A size for people: whole bytes below 1 KiB, else one decimal in the largest binary unit that
 * keeps the rounded number below 1024 (1023.96 KiB is "1.0 MiB", not "1024.0 KiB").
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "? B";
  const shown = (value: number, unit: number) => (unit === 0 ? Math.round(value) : Number(value.toFixed(1)));
  let value = n;
  let unit = 0;
  while (unit < BYTE_UNITS.length - 1 && shown(value, unit) >= 1024) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** A transfer rate in the units of formatBytes, per second; undefined when no time has passed. */
export function formatRate(bytes: number, seconds: number): string | undefined {
  if (!(seconds > 0) || !Number.isFinite(seconds)) return undefined;
  return `${formatBytes(bytes / seconds)}/s`;
}
