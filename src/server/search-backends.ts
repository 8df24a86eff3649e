/**
 * Crane's two `/v1/search` backends (FORMATS.md §2.7): a Google Search Appliance (XML) and a
 * Solr template URL (JSON). One GET with a 1 s timeout, as Crane does; a timeout is 504, a
 * connection failure 503, any other status or an unreadable body 502.
 */
import { isJsonObject } from "../image/records.js";
import type { ServerConfig } from "./config.js";
import type { SearchResult } from "./search.js";
import { BodyTooLargeError, textCapped } from "../adapters/http-body.js";
import { ownEntry } from "../image/records.js";

export class SearchBackendError extends Error {
  constructor(
    readonly status: 502 | 503 | 504,
    message: string,
    /** What the client sees on a 502 (Crane: the backend URL for a bad status, else a fixed text). */
    readonly publicMessage: string = "error communicating with backend search service",
  ) {
    super(message);
  }
}

const TIMEOUT_MS = 1000;
/** A search answer larger than this is not a search answer. */
const MAX_BODY = 8 * 1024 * 1024;

async function getText(url: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: "error" });
  } catch (err) {
    if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
      throw new SearchBackendError(504, `timeout after ${TIMEOUT_MS} ms`, "Gateway Timeout");
    }
    throw new SearchBackendError(503, `cannot reach ${new URL(url).host}`, "Service Unavailable");
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    // Crane puts the URL in the message; it is the operator's configured URL plus the query.
    throw new SearchBackendError(502, `status ${res.status} from ${url}`, url);
  }
  try {
    return await textCapped(res, MAX_BODY);
  } catch (err) {
    if (err instanceof BodyTooLargeError) {
      throw new SearchBackendError(502, `answer larger than ${MAX_BODY} bytes`);
    }
    throw new SearchBackendError(502, "the backend stopped answering mid-body");
  }
}

/** Python 2 `urllib.quote(s)`: keeps letters, digits, `_.-` and `/`; UTF-8 percent-encodes the rest. */
export function pythonQuote(text: string): string {
  return [...Buffer.from(text, "utf8")]
    .map((byte) => {
      const c = String.fromCharCode(byte);
      return /[A-Za-z0-9_.\-/]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function xmlText(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (whole, name: string) => {
    if (name.startsWith("#x")) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith("#")) return String.fromCodePoint(parseInt(name.slice(1), 10));
    return ownEntry(ENTITIES, name) ?? whole;
  });
}

function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(/([A-Za-z_][\w.-]*)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    out.set(m[1] ?? "", xmlText(m[3] ?? m[4] ?? ""));
  }
  return out;
}

/**
 * The part of the Google Search Protocol Crane reads: `GSP/RES/R/MT` elements named
 * `portal_name` and `portal_short_description`. A small scanner, not a general XML parser
 * (none is installed): GSA answers are flat and attribute-only where it matters.
 */
export function parseGsa(xml: string): SearchResult[] {
  const body = xml.replace(/^\uFEFF/, "").trim();
  if (!body.startsWith("<") || !/<\/?[A-Za-z]/.test(body)) {
    throw new SearchBackendError(502, "the GSA answer is not XML");
  }
  const results: SearchResult[] = [];
  const res = /<RES\b[^>]*>([\s\S]*?)<\/RES>/.exec(body)?.[1] ?? "";
  for (const r of res.matchAll(/<R\b[^>]*>([\s\S]*?)<\/R>/g)) {
    let name: string | undefined;
    let description = "";
    for (const mt of (r[1] ?? "").matchAll(/<MT\b([^>]*?)\/?>/g)) {
      const attrs = attributes(mt[1] ?? "");
      if (attrs.get("N") === "portal_name") name = attrs.get("V");
      else if (attrs.get("N") === "portal_short_description") description = attrs.get("V") ?? "";
    }
    if (name !== undefined) results.push(searchResult(name, description));
  }
  return results;
}

function searchResult(name: string, description: string | null, extra: Partial<SearchResult> = {}) {
  return {
    name,
    description,
    is_trusted: false,
    is_official: false,
    star_count: 0,
    should_filter: true,
    ...extra,
  };
}

export function parseSolr(text: string): SearchResult[] {
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new SearchBackendError(502, "the Solr answer is not JSON");
  }
  const response = isJsonObject(answer) ? answer.response : undefined;
  const docs: unknown = isJsonObject(response) ? response.docs : undefined;
  if (!Array.isArray(docs)) throw new SearchBackendError(502, "the Solr answer has no response.docs");
  const results: SearchResult[] = [];
  const list: readonly unknown[] = docs;
  for (const doc of list) {
    if (!isJsonObject(doc)) continue;
    const description = doc.ir_description ?? doc.publishedAbstract ?? null;
    const flags = {
      is_trusted: doc.ir_automated === true,
      is_official: doc.ir_official === true,
      star_count: typeof doc.ir_stars === "number" ? doc.ir_stars : 0,
    };
    const desc = typeof description === "string" ? description : null;
    if (doc.documentKind === "CertifiedSoftware") {
      const pulls: readonly unknown[] = Array.isArray(doc.c_pull_command) ? doc.c_pull_command : [];
      for (const pull of pulls) {
        if (typeof pull !== "string") continue;
        const name = pull.replace("docker pull", "").trim();
        results.push(searchResult(name, desc, { ...flags, should_filter: false }));
      }
    } else if (typeof doc.allTitle === "string") {
      results.push(
        searchResult(doc.allTitle, desc, { ...flags, should_filter: doc.documentKind === "ImageRepository" }),
      );
    }
  }
  return results;
}

/** GSA wins over Solr when both are set, as in Crane. */
export async function backendSearch(config: ServerConfig, query: string): Promise<SearchResult[]> {
  if (config.gsaUrl !== "") {
    const url = new URL(config.gsaUrl);
    url.searchParams.set("q", query);
    return parseGsa(await getText(url.toString()));
  }
  const url = config.solrUrl.split("{0}").join(pythonQuote(query));
  return parseSolr(await getText(url));
}
