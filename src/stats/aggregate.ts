/**
 * Reading pull statistics: every flush object (counters.ts) is merged into totals per
 * repository, tag and day. Closed days (before yesterday) can be compacted into one
 * `compact.json` per day folder that lists the objects it merged; readers skip those objects,
 * so a compaction that stops half-way, or two that run at once, never counts a pull twice.
 */
import { ObjectNotFoundError, type BlobStore } from "../storage/types.js";
import { dayOf, PULLS_PREFIX, type CountRow } from "./counters.js";

export interface PullStat {
  repository: string;
  tag: string;
  day: string;
  pulls: number;
}

interface FlushObject {
  version: 1;
  counts: CountRow[];
  /** In compact.json: the names of the flush objects merged into it. */
  merged?: string[];
}

const COMPACT = "compact.json";
const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

function parse(bytes: Buffer, key: string): FlushObject {
  const value = JSON.parse(bytes.toString("utf8")) as FlushObject;
  if (value?.version !== 1 || !Array.isArray(value.counts)) {
    throw new Error(`${key}: not a statistics object`);
  }
  return value;
}

/** The flush objects of each day folder at or after `since`, with that folder's compact object. */
async function folders(store: BlobStore, since: string | undefined) {
  const byDay = new Map<string, string[]>();
  for await (const o of store.list(PULLS_PREFIX)) {
    const [day, name] = o.key.slice(PULLS_PREFIX.length).split("/");
    if (day === undefined || name === undefined || !DAY_RE.test(day)) continue;
    if (since !== undefined && day < since) continue; // its counts are all for earlier days
    byDay.set(day, [...(byDay.get(day) ?? []), name]);
  }
  return byDay;
}

async function readFolder(
  store: BlobStore,
  day: string,
  names: string[],
): Promise<{ rows: CountRow[]; merged: string[] }> {
  const rows: CountRow[] = [];
  let merged: string[] = [];
  if (names.includes(COMPACT)) {
    const compact = parse(await store.getBuffer(`${PULLS_PREFIX}${day}/${COMPACT}`), COMPACT);
    rows.push(...compact.counts);
    merged = compact.merged ?? [];
  }
  const skip = new Set([COMPACT, ...merged]);
  const reads = names
    .filter((n) => !skip.has(n))
    .map(async (n) => {
      const key = `${PULLS_PREFIX}${day}/${n}`;
      try {
        return { name: n, rows: parse(await store.getBuffer(key), key).counts };
      } catch (err) {
        // Deleted by a compaction between the listing and this read: compact.json has it now.
        if (err instanceof ObjectNotFoundError) return { name: n, rows: undefined };
        throw err;
      }
    });
  const read = await Promise.all(reads);
  if (read.some((r) => r.rows === undefined)) {
    // A compaction ran meanwhile: read the folder again, from its new compact object.
    const again: string[] = [];
    for await (const o of store.list(`${PULLS_PREFIX}${day}/`)) {
      again.push(o.key.slice(o.key.lastIndexOf("/") + 1));
    }
    return readFolder(store, day, again);
  }
  for (const r of read) rows.push(...(r.rows ?? []));
  return { rows, merged: [...merged, ...read.map((r) => r.name)] };
}

/** Totals per repository, tag and day (days on or after `since`), sorted by day, repository, tag. */
export async function readPullStats(
  store: BlobStore,
  filter: { repository?: string; since?: string } = {},
): Promise<PullStat[]> {
  const totals = new Map<string, number>();
  for (const [day, names] of await folders(store, filter.since)) {
    const { rows } = await readFolder(store, day, names);
    for (const [d, repository, tag, n] of rows) {
      if (filter.repository !== undefined && repository !== filter.repository) continue;
      if (filter.since !== undefined && d < filter.since) continue;
      const key = `${d}\n${repository}\n${tag}`;
      totals.set(key, (totals.get(key) ?? 0) + n);
    }
  }
  return [...totals]
    .map(([key, pulls]) => {
      const [day = "", repository = "", tag = ""] = key.split("\n");
      return { repository, tag, day, pulls };
    })
    .sort(
      (a, b) =>
        a.day.localeCompare(b.day) || a.repository.localeCompare(b.repository) || a.tag.localeCompare(b.tag),
    );
}

/** Merge each closed day folder (before yesterday) into its compact.json; returns the folders compacted. */
export async function compactPullStats(store: BlobStore, now: Date = new Date()): Promise<string[]> {
  const yesterday = dayOf(new Date(now.getTime() - 86_400_000));
  const compacted: string[] = [];
  for (const [day, names] of await folders(store, undefined)) {
    if (day >= yesterday || names.every((n) => n === COMPACT)) continue;
    const { rows, merged } = await readFolder(store, day, names);
    const totals = new Map<string, CountRow>();
    for (const [d, r, t, n] of rows) {
      const k = `${d}\n${r}\n${t}`;
      const prev = totals.get(k);
      totals.set(k, [d, r, t, (prev?.[3] ?? 0) + n]);
    }
    const body: FlushObject = { version: 1, counts: [...totals.values()], merged };
    await store.put(`${PULLS_PREFIX}${day}/${COMPACT}`, Buffer.from(JSON.stringify(body)), {
      contentType: "application/json",
    });
    for (const n of merged) await store.delete(`${PULLS_PREFIX}${day}/${n}`);
    compacted.push(day);
  }
  return compacted;
}
