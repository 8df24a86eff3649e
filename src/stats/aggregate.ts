/**
 * Reading pull statistics: every flush object (counters.ts) is merged into totals per
 * repository, tag and day. Closed days (before yesterday) can be compacted into one
 * `compact.json` per day folder that lists the objects it merged; readers skip those objects,
 * so a compaction that stops half-way, or two that run at once, never counts a pull twice.
 */
import { ObjectNotFoundError, type BlobStore, type ListedObject } from "../storage/types.js";
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
/** Reading a folder again after a compaction raced the read; more would mean a store that keeps changing under us. */
const MAX_REREADS = 3;

const isCountRow = (row: unknown): row is CountRow =>
  Array.isArray(row) &&
  row.length === 4 &&
  typeof row[0] === "string" &&
  DAY_RE.test(row[0]) &&
  typeof row[1] === "string" &&
  typeof row[2] === "string" &&
  Number.isSafeInteger(row[3]) &&
  (row[3] as number) >= 0;

/**
 * A statistics object, with only its well-formed rows: a row another writer mangled (a count
 * that is a string would otherwise be concatenated, not added) is left out, not trusted.
 */
function parse(bytes: Buffer, key: string): FlushObject {
  const value = JSON.parse(bytes.toString("utf8")) as FlushObject;
  if (value?.version !== 1 || !Array.isArray(value.counts)) {
    throw new Error(`${key}: not a statistics object`);
  }
  const counts = value.counts.filter(isCountRow);
  const merged = Array.isArray(value.merged)
    ? value.merged.filter((n): n is string => typeof n === "string")
    : undefined;
  return { version: 1, counts, ...(merged === undefined ? {} : { merged }) };
}

/** The objects of each day folder at or after `since` (one listing of the whole prefix). */
async function folders(store: BlobStore, since: string | undefined) {
  const byDay = new Map<string, ListedObject[]>();
  for await (const o of store.list(PULLS_PREFIX)) {
    const rest = o.key.slice(PULLS_PREFIX.length);
    const slash = rest.indexOf("/");
    const day = rest.slice(0, slash);
    if (slash < 0 || rest.indexOf("/", slash + 1) >= 0 || !DAY_RE.test(day)) continue;
    if (since !== undefined && day < since) continue; // its counts are all for earlier days
    let list = byDay.get(day);
    if (list === undefined) byDay.set(day, (list = []));
    list.push(o);
  }
  return byDay;
}

const nameOf = (key: string) => key.slice(key.lastIndexOf("/") + 1);

/**
 * Reads statistics objects, keeping each one's rows while its listing shows it unchanged: a
 * flush object is written once and never rewritten, and a rewritten compact.json has a new
 * modification time or size. So a reader kept for a while (the registry's) reads each object
 * once, and a refresh costs one listing plus the objects written since.
 */
export class PullStatsReader {
  private readonly objects = new Map<string, { stamp: string; value: FlushObject }>();

  constructor(private readonly store: BlobStore) {}

  /** Totals per repository, tag and day (days on or after `since`), sorted by day, repository, tag. */
  async read(filter: { repository?: string; since?: string } = {}): Promise<PullStat[]> {
    const totals = new Map<string, PullStat>();
    const seen = new Set<string>();
    for (const [day, objects] of await folders(this.store, filter.since)) {
      const { values, read } = await this.readFolder(day, objects);
      for (const key of read) seen.add(key);
      for (const value of values) {
        for (const [d, repository, tag, n] of value.counts) {
          if (filter.repository !== undefined && repository !== filter.repository) continue;
          if (filter.since !== undefined && d < filter.since) continue;
          const key = `${d}\n${repository}\n${tag}`;
          const total = totals.get(key);
          if (total === undefined) totals.set(key, { repository, tag, day: d, pulls: n });
          else total.pulls += n;
        }
      }
    }
    // Objects gone from storage (merged, deleted) or before `since` are not kept.
    for (const key of this.objects.keys()) if (!seen.has(key)) this.objects.delete(key);
    return [...totals.values()].sort((a, b) =>
      a.day !== b.day
        ? a.day < b.day
          ? -1
          : 1
        : a.repository !== b.repository
          ? a.repository < b.repository
            ? -1
            : 1
          : a.tag < b.tag
            ? -1
            : a.tag > b.tag
              ? 1
              : 0,
    );
  }

  /** One folder's objects to count (compact.json's merged ones left out) and their names. */
  async readFolder(
    day: string,
    listed: ListedObject[],
  ): Promise<{ values: FlushObject[]; merged: string[]; read: string[] }> {
    for (let attempt = 0; ; attempt++) {
      const result = await this.tryFolder(day, listed);
      if (result !== undefined) return result;
      if (attempt >= MAX_REREADS) {
        throw new Error(`${PULLS_PREFIX}${day}/: objects keep disappearing while the folder is read`);
      }
      // A compaction ran meanwhile: read the folder again, from its new compact object.
      listed = [];
      for await (const o of this.store.list(`${PULLS_PREFIX}${day}/`)) listed.push(o);
    }
  }

  private async tryFolder(day: string, listed: ListedObject[]) {
    const compactObject = listed.find((o) => nameOf(o.key) === COMPACT);
    const values: FlushObject[] = [];
    const read: string[] = [];
    let merged: string[] = [];
    if (compactObject !== undefined) {
      const compact = await this.object(compactObject);
      if (compact === undefined) return undefined;
      values.push(compact);
      read.push(compactObject.key);
      merged = compact.merged ?? [];
    }
    const skip = new Set([COMPACT, ...merged]);
    const flushes = listed.filter((o) => !skip.has(nameOf(o.key)));
    const got = await Promise.all(flushes.map((o) => this.object(o)));
    const names: string[] = [...merged];
    for (let i = 0; i < got.length; i++) {
      const value = got[i];
      const o = flushes[i] as ListedObject;
      // Deleted by a compaction between the listing and this read: compact.json has it now.
      if (value === undefined) return undefined;
      values.push(value);
      read.push(o.key);
      names.push(nameOf(o.key));
    }
    return { values, merged: names, read };
  }

  /** An object's parsed content, from memory while its listing is unchanged; undefined if it is gone. */
  private async object(o: ListedObject): Promise<FlushObject | undefined> {
    const stamp = `${o.size} ${o.lastModified.getTime()}`;
    const hit = this.objects.get(o.key);
    if (hit !== undefined && hit.stamp === stamp) return hit.value;
    try {
      const value = parse(await this.store.getBuffer(o.key), o.key);
      this.objects.set(o.key, { stamp, value });
      return value;
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
  }
}

/** Totals per repository, tag and day (days on or after `since`), sorted by day, repository, tag. */
export function readPullStats(
  store: BlobStore,
  filter: { repository?: string; since?: string } = {},
): Promise<PullStat[]> {
  return new PullStatsReader(store).read(filter);
}

/** Merge each closed day folder (before yesterday) into its compact.json; returns the folders compacted. */
export async function compactPullStats(store: BlobStore, now: Date = new Date()): Promise<string[]> {
  const yesterday = dayOf(new Date(now.getTime() - 86_400_000));
  const compacted: string[] = [];
  const reader = new PullStatsReader(store);
  for (const [day, objects] of await folders(store, undefined)) {
    if (day >= yesterday || objects.every((o) => nameOf(o.key) === COMPACT)) continue;
    const { values, merged } = await reader.readFolder(day, objects);
    const totals = new Map<string, CountRow>();
    for (const value of values) {
      for (const [d, r, t, n] of value.counts) {
        const k = `${d}\n${r}\n${t}`;
        const prev = totals.get(k);
        if (prev === undefined) totals.set(k, [d, r, t, n]);
        else prev[3] += n;
      }
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
