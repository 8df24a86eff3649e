/**
 * The web page's pull chart from the registry's statistics (src/stats): the same cached reads as
 * `/raas/stats/<name>`, summed per day over the last 90 days, with the days without pulls
 * between the first counted day and today filled in as zero so the bars keep a time scale.
 * The page asks only for repositories the visitor may pull (the page itself checks first).
 */
import type { DailyPulls, WebOptions } from "../web/index.js";
import type { BlobStore } from "../storage/types.js";
import { cachedPullStats } from "./stats-route.js";

export const CHART_DAYS = 90;
const DAY_MS = 86_400_000;

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Per-day totals of `rows` (days `YYYY-MM-DD`), one entry for every day from the first to `today`. */
export function dailySeries(rows: readonly { day: string; pulls: number }[], today: string): DailyPulls[] {
  const totals = new Map<string, number>();
  for (const r of rows) totals.set(r.day, (totals.get(r.day) ?? 0) + r.pulls);
  const first = [...totals.keys()].sort()[0];
  if (first === undefined) return [];
  const series: DailyPulls[] = [];
  const end = Date.parse(`${today}T00:00:00Z`);
  for (let t = Date.parse(`${first}T00:00:00Z`); t <= end; t += DAY_MS) {
    const day = dayOf(t);
    series.push({ day, pulls: totals.get(day) ?? 0 });
  }
  return series;
}

/** A page whose statistics cannot be read is rendered without its chart (and the failure logged). */
export function webPullStats(
  store: BlobStore,
  now: () => Date,
  log: (message: string) => void,
): NonNullable<WebOptions["pullStats"]> {
  return async (repository, reference) => {
    const t = now().getTime();
    const since = dayOf(t - (CHART_DAYS - 1) * DAY_MS);
    const rows = await cachedPullStats(store, repository, since, t).catch((err: unknown) => {
      log(`pull statistics of ${repository} unavailable to the web page: ${String(err)}`);
      return [];
    });
    const series = dailySeries(
      reference === undefined ? rows : rows.filter((r) => r.tag === reference),
      dayOf(t),
    );
    return series.length === 0 ? undefined : series;
  };
}
