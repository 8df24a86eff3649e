/**
 * Two lines of `raas status` read from the ISV's store: the last retention run (`raas gc
 * --retention`, when and what it deleted) and the write API's open upload sessions (how many,
 * how long the oldest has been idle, how many bytes). Informational; a line whose storage read
 * failed says so as a warning, never as a pass.
 */
import { errorMessage } from "../errors.js";
import { formatDuration } from "../lifecycle/duration.js";
import { RETENTION_RECORD_KEY } from "../lifecycle/policy.js";
import { openUploadSessions } from "../lifecycle/uploads.js";
import { formatBytes } from "../publish/upload.js";
import type { BlobStore } from "../storage/types.js";
import type { Check } from "./checks.js";
import type { RetentionRecord } from "./retention.js";

/** An idle session older than this is worth a `raas gc --upload-age` (a warning, not a failure). */
export const STALE_UPLOAD_MS = 24 * 3_600_000;

export async function lifecycleStatusChecks(
  isv: string,
  store: BlobStore,
  now = new Date(),
): Promise<Check[]> {
  return [await retentionCheck(store), await uploadsCheck(isv, store, now)];
}

async function retentionCheck(store: BlobStore): Promise<Check> {
  const name = "retention";
  let text: string;
  try {
    if ((await store.head(RETENTION_RECORD_KEY)) === undefined) {
      return { name, status: "ok", detail: "retention has never run (raas gc --retention)" };
    }
    text = (await store.getBuffer(RETENTION_RECORD_KEY)).toString("utf8");
  } catch (error) {
    return { name, status: "warn", detail: `cannot read the last retention run: ${errorMessage(error)}` };
  }
  const record = parseRecord(text);
  if (record === undefined) {
    return {
      name,
      status: "warn",
      detail: `${RETENTION_RECORD_KEY} is not a retention record; the next raas gc --retention rewrites it`,
    };
  }
  const more = record.deletedTags - record.deleted.length;
  const tags =
    record.deletedTags === 0
      ? "deleted no tag"
      : `deleted ${record.deletedTags} tag(s): ${record.deleted.join(", ")}${more > 0 ? ` and ${more} more` : ""}`;
  const removed =
    record.removedRepositories.length === 0
      ? ""
      : `; removed repositories ${record.removedRepositories.join(", ")}`;
  return {
    name,
    status: "ok",
    detail: `last retention run ${record.finished} (rules ${record.rules.join(", ")}) ${tags}${removed}`,
  };
}

/** An age for people: `3d 4h`, `5h 12m`, `7m 3s`, `42s`. */
export function age(ms: number): string {
  const s = Math.floor(ms / 1000);
  const [d, h, m] = [Math.floor(s / 86_400), Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60];
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

function parseRecord(text: string): RetentionRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<RetentionRecord>;
    const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
    if (
      typeof value.finished !== "string" ||
      typeof value.deletedTags !== "number" ||
      !strings(value.deleted) ||
      !strings(value.rules) ||
      !strings(value.removedRepositories)
    ) {
      return undefined;
    }
    return value as RetentionRecord;
  } catch {
    return undefined;
  }
}

async function uploadsCheck(isv: string, store: BlobStore, now: Date): Promise<Check> {
  const name = "upload sessions";
  try {
    const open = await openUploadSessions(store, now);
    if (open.sessions === 0) return { name, status: "ok", detail: "no open upload session" };
    const detail = `${open.sessions} open upload session(s), ${formatBytes(open.bytes)} (${open.bytes} bytes), the oldest idle for ${age(open.oldestIdleMs)}`;
    if (open.oldestIdleMs > STALE_UPLOAD_MS) {
      return {
        name,
        status: "warn",
        detail,
        fix: `raas gc ${isv} --upload-age ${formatDuration(STALE_UPLOAD_MS)} removes sessions idle for longer`,
      };
    }
    return { name, status: "ok", detail };
  } catch (error) {
    return { name, status: "warn", detail: `cannot list upload sessions: ${errorMessage(error)}` };
  }
}
