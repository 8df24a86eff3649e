/**
 * `GET /raas/stats/<name>[?since=YYYY-MM-DD]`: the pull statistics of one repository as JSON,
 * for the web page. The caller's right to pull the name is checked first, then only names the
 * metadata knows (and that are not protected) are answered. Every repository and date is served
 * from one snapshot of the statistics, refreshed every few seconds at most.
 */
import { isRepositoryName } from "../image/names.js";
import { PullStatsReader, type PullStat } from "../stats/aggregate.js";
import type { BlobStore } from "../storage/types.js";
import type { RequestContext } from "./context.js";
import { sendJson } from "./http.js";
import { noRoute, RegistryError } from "./registry-error.js";

const CACHE_MS = 5000;

/** Every repository's statistics, as of one read of storage. */
interface StatsSnapshot {
  at: number;
  byRepository: Promise<Map<string, PullStat[]>>;
}

/**
 * One snapshot per store, shared by every repository and every `since`: however many names or
 * dates clients ask for, the registry lists storage once every few seconds at most, with one
 * read in flight, and reads each statistics object once (PullStatsReader keeps them).
 */
const snapshots = new WeakMap<BlobStore, { reader: PullStatsReader; current?: StatsSnapshot }>();

function snapshot(store: BlobStore, nowMs: number): Promise<Map<string, PullStat[]>> {
  let state = snapshots.get(store);
  if (state === undefined) snapshots.set(store, (state = { reader: new PullStatsReader(store) }));
  const current = state.current;
  if (current !== undefined && nowMs - current.at <= CACHE_MS && nowMs >= current.at) {
    return current.byRepository;
  }
  const next: StatsSnapshot = {
    at: nowMs,
    byRepository: state.reader.read().then((rows) => {
      const byRepository = new Map<string, PullStat[]>();
      for (const row of rows) {
        let list = byRepository.get(row.repository);
        if (list === undefined) byRepository.set(row.repository, (list = []));
        list.push(row);
      }
      return byRepository;
    }),
  };
  const owner = state;
  // A failed read is not kept: the next request tries again.
  next.byRepository.catch(() => {
    if (owner.current === next) delete owner.current;
  });
  state.current = next;
  return next.byRepository;
}

/** A repository's statistics (days on or after `since`, sorted by day and tag), at most a few seconds old. */
export async function cachedPullStats(
  store: BlobStore,
  name: string,
  since: string | undefined,
  nowMs: number,
): Promise<PullStat[]> {
  const rows = (await snapshot(store, nowMs)).get(name) ?? [];
  return since === undefined ? rows : rows.filter((r) => r.day >= since);
}

/** The route's answer: totals per tag (any tag name, `__proto__` too), and the days. */
export function statsBody(name: string, since: string | undefined, stats: readonly PullStat[]) {
  const tags = Object.create(null) as Record<string, number>;
  let total = 0;
  for (const s of stats) {
    tags[s.tag] = (tags[s.tag] ?? 0) + s.pulls;
    total += s.pulls;
  }
  return {
    repository: name,
    ...(since === undefined ? {} : { since }),
    total,
    tags,
    days: stats.map(({ day, tag, pulls }) => ({ day, tag, pulls })),
  };
}

export async function handleStats(
  ctx: RequestContext,
  store: BlobStore | undefined,
  segments: string[],
): Promise<void> {
  const name = segments.join("/");
  if (segments.length === 0 || name === "") throw noRoute();
  if (!isRepositoryName(name)) {
    throw new RegistryError(400, "NAME_INVALID", "invalid repository name", { name: name.slice(0, 300) });
  }
  // Asked before the name is looked up, as for /v2/: who may not pull gets the same answer
  // whether or not the repository exists.
  await ctx.access.authorizeRequest(ctx.req, name, "pull");
  const repo = ctx.snap.index.v2.get(name);
  if (repo === undefined || repo.meta.protected === true) {
    throw new RegistryError(404, "NAME_UNKNOWN", "repository name not known to registry", { name });
  }
  const since = ctx.query.get("since") ?? undefined;
  if (since !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(since)) {
    throw new RegistryError(400, "UNSUPPORTED", "since must be a date (YYYY-MM-DD)", {
      since: since.slice(0, 20),
    });
  }
  if (store === undefined) {
    throw new RegistryError(404, "UNSUPPORTED", "this registry keeps no statistics (no storage configured)");
  }
  const stats = await cachedPullStats(store, name, since, ctx.now.getTime());
  sendJson(ctx.req, ctx.res, 200, statsBody(name, since, stats));
}
