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

export class PullCounter {
  private counts = new Map<string, number>();
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: BlobStore,
    private readonly producer: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  count(repository: string, tag: string): void {
    const key = `${dayOf(this.now())}\n${repository}\n${tag}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Counts not yet in storage. */
  get pending(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
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
    const rows: CountRow[] = [...taken].map(([key, n]) => {
      const [day = "", repository = "", tag = ""] = key.split("\n");
      return [day, repository, tag, n];
    });
    const now = this.now();
    const key = `${PULLS_PREFIX}${dayOf(now)}/${String(now.getTime()).padStart(13, "0")}-${this.producer}-${this.seq++}.json`;
    try {
      await this.store.put(key, Buffer.from(JSON.stringify({ version: 1, counts: rows })));
    } catch (err) {
      for (const [k, n] of taken) this.counts.set(k, (this.counts.get(k) ?? 0) + n);
      throw err;
    }
  }
}
