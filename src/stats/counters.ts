/**
 * Pull statistics: counted in memory per (day, repository, tag) and appended to storage as one
 * small object per flush (every `intervalMs` and at shutdown), never written per request.
 *
 *   .raas/stats/pulls/<flush day>/<13-digit ms>-<producer>-<seq>.json
 *     {"version":1,"counts":[["2026-11-30","acme/app","1.0",42], ...]}
 *
 * A count is for a UTC day; a flush object lives under the day it was written, which is never
 * earlier than the days it counts (aggregate.ts relies on that to skip old folders).
 */
import type { BlobStore } from "../storage/types.js";

export const PULLS_PREFIX = ".raas/stats/pulls/";

export type CountRow = [day: string, repository: string, tag: string, pulls: number];

export const dayOf = (date: Date) => date.toISOString().slice(0, 10);

const DAY_MS = 86_400_000;

/** day -> repository -> tag -> pulls. */
type Counts = Map<string, Map<string, Map<string, number>>>;

export class PullCounter {
  private counts: Counts = new Map();
  /** The current UTC day's table and its bounds, so a count formats no date (the hot path). */
  private today: Map<string, Map<string, number>> | undefined;
  private dayStart = 0;
  private dayEnd = 0;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: BlobStore,
    private readonly producer: string,
    /** Milliseconds since the epoch (Date.now by default; tests move it). */
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * One pull: a clock read, a range check and three map look-ups on strings the caller already
   * has (the repository name comes from the metadata, the tag from the request path); no string
   * is built and nothing is allocated unless the day or the (repository, tag) pair is new.
   */
  count(repository: string, tag: string): void {
    const t = this.now();
    let today = this.today;
    if (today === undefined || t >= this.dayEnd || t < this.dayStart) today = this.turnDay(t);
    let tags = today.get(repository);
    if (tags === undefined) today.set(repository, (tags = new Map<string, number>()));
    tags.set(tag, (tags.get(tag) ?? 0) + 1);
  }

  private turnDay(t: number): Map<string, Map<string, number>> {
    this.dayStart = t - (t % DAY_MS);
    this.dayEnd = this.dayStart + DAY_MS;
    const day = dayOf(new Date(t));
    let table = this.counts.get(day);
    if (table === undefined) this.counts.set(day, (table = new Map<string, Map<string, number>>()));
    this.today = table;
    return table;
  }

  /** Counts not yet in storage. */
  get pending(): number {
    let n = 0;
    for (const table of this.counts.values()) {
      for (const tags of table.values()) for (const v of tags.values()) n += v;
    }
    return n;
  }

  start(intervalMs: number, onError: (err: unknown) => void): void {
    const tick = () => {
      this.flush().catch(onError);
      this.timer = setTimeout(tick, intervalMs);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, intervalMs);
    this.timer.unref();
  }

  /** Stop the timer and write what is counted. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.flush();
  }

  /** Append the counts so far as one object; on failure they are kept for the next flush. */
  flush(): Promise<void> {
    this.flushing = this.flushing.catch(() => undefined).then(() => this.write());
    return this.flushing;
  }

  private async write(): Promise<void> {
    if (this.counts.size === 0) return;
    const taken = this.counts;
    this.counts = new Map();
    this.today = undefined;
    const rows: CountRow[] = [];
    for (const [day, table] of taken) {
      for (const [repository, tags] of table) {
        for (const [tag, n] of tags) rows.push([day, repository, tag, n]);
      }
    }
    const t = this.now();
    const key = `${PULLS_PREFIX}${dayOf(new Date(t))}/${String(t).padStart(13, "0")}-${this.producer}-${this.seq++}.json`;
    try {
      await this.store.put(key, Buffer.from(JSON.stringify({ version: 1, counts: rows })));
    } catch (err) {
      // Kept for the next flush, added to what was counted meanwhile.
      for (const [day, repository, tag, n] of rows) this.add(day, repository, tag, n);
      throw err;
    }
  }

  private add(day: string, repository: string, tag: string, n: number): void {
    let table = this.counts.get(day);
    if (table === undefined) this.counts.set(day, (table = new Map<string, Map<string, number>>()));
    let tags = table.get(repository);
    if (tags === undefined) table.set(repository, (tags = new Map<string, number>()));
    tags.set(tag, (tags.get(tag) ?? 0) + n);
  }
}
