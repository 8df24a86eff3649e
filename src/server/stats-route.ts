/**
 * `GET /raas/stats/<name>[?since=YYYY-MM-DD]`: the pull statistics of one repository as JSON,
 * for the web page. Only names the metadata knows (and that are not protected) are answered, and
 * the merged totals are kept for a few seconds, so polling clients cost one storage listing per
 * repository every few seconds at most.
 */
import { isRepositoryName } from "../image/names.js";
import { readPullStats, type PullStat } from "../stats/aggregate.js";
import type { BlobStore } from "../storage/types.js";
import type { RequestContext } from "./context.js";
import { sendJson } from "./http.js";
import { noRoute, RegistryError } from "./registry-error.js";

const CACHE_MS = 5000;
const MAX_CACHED = 1000;
const cache = new Map<string, { at: number; stats: Promise<PullStat[]> }>();

/** A repository's statistics (days on or after `since`), read at most every few seconds. */
export function cachedPullStats(
  store: BlobStore,
  name: string,
  since: string | undefined,
  nowMs: number,
): Promise<PullStat[]> {
  const key = `${name}\n${since ?? ""}`;
  let entry = cache.get(key);
  if (entry === undefined || nowMs - entry.at > CACHE_MS) {
    if (cache.size >= MAX_CACHED) cache.clear();
    entry = {
      at: nowMs,
      stats: readPullStats(store, { repository: name, ...(since === undefined ? {} : { since }) }),
    };
    entry.stats.catch(() => cache.delete(key));
    cache.set(key, entry);
  }
  return entry.stats;
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
  const repo = ctx.snap.index.v2.get(name);
  if (repo === undefined || repo.meta.protected === true) {
    throw new RegistryError(404, "NAME_UNKNOWN", "repository name not known to registry", { name });
  }
  // Pull counts of a repository are for those who may pull it (docs/auth.md).
  await ctx.access.authorizeRequest(ctx.req, name, "pull");
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
  const tags: Record<string, number> = {};
  let total = 0;
  for (const s of stats) {
    tags[s.tag] = (tags[s.tag] ?? 0) + s.pulls;
    total += s.pulls;
  }
  sendJson(ctx.req, ctx.res, 200, {
    repository: name,
    ...(since === undefined ? {} : { since }),
    total,
    tags,
    days: stats.map(({ day, tag, pulls }) => ({ day, tag, pulls })),
  });
}
