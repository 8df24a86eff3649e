import { pythonJson } from "../crane/python-json.js";
import type { ServerConfig } from "./config.js";
import type { RequestContext } from "./context.js";
import { send } from "./http.js";
import { backendSearch, SearchBackendError } from "./search-backends.js";
import type { Snapshot } from "./snapshot.js";

/** One `docker search` result, with Crane's field set (`should_filter` leaks into the output). */
export interface SearchResult {
  name: string;
  description: string | null;
  is_trusted: boolean;
  is_official: boolean;
  star_count: number;
  should_filter: boolean;
}

const V1_HEADERS = { "X-Docker-Registry-Version": "0.6.6", "X-Docker-Registry-Config": "common" };
/** Queries longer than this cannot match a repository name (255) plus a description worth having. */
const MAX_QUERY = 1024;

/** Crane's `repo_is_authorized` without certificates: a known, unprotected v2 repo, else v1 repo. */
export function isVisibleRepo(snap: Snapshot, name: string): boolean {
  const v2 = snap.index.v2.get(name);
  if (v2 !== undefined) return v2.meta.protected !== true;
  const v1 = snap.index.v1.get(name);
  return v1 !== undefined && v1.meta.protected !== true;
}

/**
 * The built-in backend, used when neither `[gsa] url` nor `[solr] url` is set (Crane answers
 * 404 then): every visible repository whose name or configured description contains every
 * whitespace-separated word of the query, case-insensitively, in name order.
 */
export function builtinSearch(snap: Snapshot, search: ServerConfig["search"], query: string): SearchResult[] {
  const words = query
    .toLowerCase()
    .split(/\s+/)
    .filter((w) => w !== "");
  const names = new Set([...snap.index.v2.keys(), ...snap.index.v1.keys()]);
  const results: SearchResult[] = [];
  for (const name of [...names].sort()) {
    if (!isVisibleRepo(snap, name)) continue;
    const description = search.descriptions.get(name) ?? "";
    const haystack = `${name}\n${description}`.toLowerCase();
    if (!words.every((w) => haystack.includes(w))) continue;
    results.push({
      name,
      description,
      is_trusted: search.trusted.has(name),
      is_official: search.official.has(name),
      star_count: 0,
      should_filter: true,
    });
  }
  return results;
}

/** `GET /v1/search?q=`: Crane's envelope, in Flask's `json.dumps` form (sorted keys, `", "`). */
export async function handleSearch(ctx: RequestContext): Promise<void> {
  const { req, res, config, snap } = ctx;
  const query = ctx.query.get("q") ?? "";
  if (query === "") {
    return send(req, res, 400, 'parameter "q" is required', {
      ...V1_HEADERS,
      "Content-Type": "text/html; charset=utf-8",
    });
  }
  if (query.length > MAX_QUERY) {
    return send(req, res, 400, `parameter "q" is longer than ${MAX_QUERY} characters`, {
      ...V1_HEADERS,
      "Content-Type": "text/html; charset=utf-8",
    });
  }
  const mayPull = await ctx.access.pullFilter(req);
  let results: SearchResult[];
  if (config.gsaUrl === "" && config.solrUrl === "") {
    results = builtinSearch(snap, config.search, query);
  } else {
    try {
      const found = await backendSearch(config, query);
      results = found.filter((r) => !r.should_filter || isVisibleRepo(snap, r.name));
    } catch (err) {
      if (!(err instanceof SearchBackendError)) throw err;
      ctx.log(`search backend: ${err.message}`);
      return send(req, res, err.status, err.status === 502 ? err.publicMessage : err.message, {
        ...V1_HEADERS,
        "Content-Type": "text/html; charset=utf-8",
      });
    }
  }
  results = results.filter((r) => mayPull(r.name));
  const body = pythonJson({ num_results: results.length, query, results });
  send(req, res, 200, body, { ...V1_HEADERS, "Content-Type": "application/json" });
}
