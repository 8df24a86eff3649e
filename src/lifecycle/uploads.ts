/**
 * Sweeping abandoned blob upload sessions of the registry's write API (`.raas-uploads/<id>/`,
 * src/server/upload-sessions.ts). GC's mark and sweep never touch that prefix (it is outside
 * the image layout, sweep.ts); this separate step, run by `raas gc --upload-age <duration>`,
 * removes whole sessions whose newest object is older than the given age, as the reference
 * registry's upload purging does. A session still written to has a fresh newest object (every
 * PATCH writes a new part and state), so only sessions idle for the whole age are removed.
 */
import type { BlobStore } from "../storage/types.js";
import { mapLimit } from "../publish/pool.js";
import { isUploadId, UPLOADS_PREFIX } from "../storage/upload-keys.js";

/** Below this an upload a client pauses briefly could be swept: refused unless forced. */
export const MIN_UPLOAD_AGE_MS = 3_600_000;

export interface UploadSweep {
  /** Sessions removed (or, with dryRun, that would be). */
  sessions: number;
  objects: number;
  bytes: number;
  /** Sessions younger than the age, kept. */
  active: number;
}

interface Session {
  keys: string[];
  bytes: number;
  /** Newest object's time (ms): when the session was last written to. */
  newest: number;
}

/** The upload sessions in storage, by id (only ids the registry issues; anything else is not ours). */
async function listSessions(store: BlobStore): Promise<Map<string, Session>> {
  const sessions = new Map<string, Session>();
  for await (const object of store.list(UPLOADS_PREFIX)) {
    const rest = object.key.slice(UPLOADS_PREFIX.length);
    const id = rest.slice(0, rest.indexOf("/"));
    // Only keys of a session id the registry issued: anything else under the prefix is left alone.
    if (!isUploadId(id)) continue;
    const s = sessions.get(id) ?? { keys: [], bytes: 0, newest: 0 };
    s.keys.push(object.key);
    s.bytes += object.size;
    s.newest = Math.max(s.newest, object.lastModified.getTime());
    sessions.set(id, s);
  }
  return sessions;
}

export interface OpenUploads {
  sessions: number;
  bytes: number;
  /** How long the longest-idle session has not been written to (ms); 0 without sessions. */
  oldestIdleMs: number;
}

/** What `raas status` reports: the upload sessions in storage now (nothing is changed). */
export async function openUploadSessions(store: BlobStore, now: Date): Promise<OpenUploads> {
  const sessions = [...(await listSessions(store)).values()];
  const oldest = Math.min(...sessions.map((s) => s.newest));
  return {
    sessions: sessions.length,
    bytes: sessions.reduce((n, s) => n + s.bytes, 0),
    oldestIdleMs: sessions.length === 0 ? 0 : Math.max(0, now.getTime() - oldest),
  };
}

export async function sweepUploadSessions(
  store: BlobStore,
  options: { olderThanMs: number; now: Date; dryRun: boolean; concurrency?: number },
): Promise<UploadSweep> {
  const sessions = await listSessions(store);
  const cutoff = options.now.getTime() - options.olderThanMs;
  const stale = [...sessions.values()].filter((s) => s.newest < cutoff);
  const result: UploadSweep = {
    sessions: stale.length,
    objects: stale.reduce((n, s) => n + s.keys.length, 0),
    bytes: stale.reduce((n, s) => n + s.bytes, 0),
    active: sessions.size - stale.length,
  };
  if (!options.dryRun) {
    // State objects last: a session read half-way through is at worst one a client cannot resume.
    const keys = stale.flatMap((s) => s.keys);
    const limit = options.concurrency ?? 16;
    await mapLimit(
      keys.filter((k) => !k.includes("/state-")),
      limit,
      (key) => store.delete(key),
    );
    await mapLimit(
      keys.filter((k) => k.includes("/state-")),
      limit,
      (key) => store.delete(key),
    );
  }
  return result;
}
