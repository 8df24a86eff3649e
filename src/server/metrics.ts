/**
 * Prometheus metrics, written by hand in the text exposition format (version 0.0.4) so the
 * registry app keeps no dependency. Label values are bounded: routes are a fixed set, statuses
 * are HTTP codes, and pulls are only counted for a repository and reference the metadata knows,
 * so a client cannot grow the series set by inventing names.
 */

/** Latency buckets in seconds: the interesting range for a server answering from memory. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/** The counters of one process as plain data: what workers send the primary to be summed. */
export interface MetricsData {
  requests: [string, number][];
  latency: [Route, Histogram][];
  pulls: [string, number][];
  /** Event and statistics series (observe.ts), summed across workers. */
  extra?: [string, number][];
  /** Start time (ms since the epoch). */
  started: number;
}

function sumInto<K>(into: Map<K, number>, entries: [K, number][]): void {
  for (const [key, value] of entries) into.set(key, (into.get(key) ?? 0) + value);
}

/** The counters of several workers as one: counts and histograms add, the earliest start wins. */
export function mergeMetrics(parts: MetricsData[]): MetricsData {
  const requests = new Map<string, number>();
  const pulls = new Map<string, number>();
  const latency = new Map<Route, Histogram>();
  const extra = new Map<string, number>();
  for (const part of parts) {
    sumInto(extra, part.extra ?? []);
    sumInto(requests, part.requests);
    sumInto(pulls, part.pulls);
    for (const [route, h] of part.latency) {
      const into = latency.get(route) ?? { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      into.counts = into.counts.map((c, i) => c + (h.counts[i] ?? 0));
      into.sum += h.sum;
      into.count += h.count;
      latency.set(route, into);
    }
  }
  return {
    requests: [...requests],
    latency: [...latency],
    pulls: [...pulls],
    extra: [...extra],
    started: Math.min(...parts.map((p) => p.started)),
  };
}

export type Route =
  | "v2_base"
  | "v2_catalog"
  | "v2_manifest"
  | "v2_blob"
  | "v2_tags"
  | "v1"
  | "v1_search"
  | "crane_admin"
  | "health"
  | "metrics"
  | "other";

/** Whether `path` holds exactly `word` from `start` to `end` (no substring is made). */
const segmentIs = (path: string, start: number, end: number, word: string) =>
  end - start === word.length && path.startsWith(word, start);

/** The route label of a raw request path, cheaply (no decoding): it only names a metric series. */
export function routeOf(path: string): Route {
  if (path.startsWith("/v2/")) {
    if (path === "/v2/") return "v2_base";
    if (path.startsWith("/v2/_catalog")) return "v2_catalog";
    // The second-to-last segment, compared in place (this runs once per request).
    const end = path.lastIndexOf("/");
    const kindStart = path.lastIndexOf("/", end - 1) + 1;
    if (segmentIs(path, kindStart, end, "manifests")) return "v2_manifest";
    if (segmentIs(path, kindStart, end, "blobs")) return "v2_blob";
    if (segmentIs(path, kindStart, end, "tags")) return "v2_tags";
    return "other";
  }
  if (path === "/v1/search") return "v1_search";
  if (path.startsWith("/v1/")) return "v1";
  if (path.startsWith("/crane/")) return "crane_admin";
  if (path === "/healthz" || path === "/readyz") return "health";
  if (path === "/metrics") return "metrics";
  return "other";
}

const escapeLabel = (value: string) =>
  value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

/** One route's counters: answers by status, and the latency histogram. */
interface RouteCounters extends Histogram {
  statuses: Map<number, number>;
}

export class Metrics {
  // Keyed by parts (route, then status; repository, then reference) rather than by one joined
  // string: a request then builds no key string, and the lookups hash strings the router and the
  // metadata already hold. data() joins them into the exchanged form.
  private readonly routes = new Map<Route, RouteCounters>();
  private readonly pulls = new Map<string, Map<string, number>>();
  private readonly started = Date.now();
  /** More series for the text (events and statistics), set once the server has them. */
  extraSeries: (() => [string, number][]) | undefined;

  observe(route: Route, status: number, seconds: number): void {
    let counters = this.routes.get(route);
    if (counters === undefined) {
      counters = { statuses: new Map(), counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.routes.set(route, counters);
    }
    counters.statuses.set(status, (counters.statuses.get(status) ?? 0) + 1);
    // Cumulative buckets are summed at render time; here only the first matching one counts.
    let index = 0;
    while (index < BUCKETS.length && seconds > (BUCKETS[index] ?? Infinity)) index++;
    if (index < BUCKETS.length) counters.counts[index] = (counters.counts[index] ?? 0) + 1;
    counters.sum += seconds;
    counters.count += 1;
  }

  /** A manifest GET answered for a known repository and a known tag or digest. */
  pull(repository: string, reference: string): void {
    let references = this.pulls.get(repository);
    if (references === undefined) {
      references = new Map();
      this.pulls.set(repository, references);
    }
    references.set(reference, (references.get(reference) ?? 0) + 1);
  }

  data(): MetricsData {
    const requests: [string, number][] = [];
    const latency: [Route, Histogram][] = [];
    for (const [route, c] of this.routes) {
      for (const [status, n] of c.statuses) requests.push([`${route} ${status}`, n]);
      latency.push([route, { counts: [...c.counts], sum: c.sum, count: c.count }]);
    }
    const pulls: [string, number][] = [];
    for (const [repository, references] of this.pulls) {
      for (const [reference, n] of references) pulls.push([`${repository}\n${reference}`, n]);
    }
    return {
      requests,
      latency,
      pulls,
      extra: this.extraSeries?.() ?? [],
      started: this.started,
    };
  }

  render(): string {
    return renderMetrics(this.data());
  }
}

/** The text exposition of `data` (one process's counters, or all workers' merged). */
export function renderMetrics(data: MetricsData): string {
  const out: string[] = [];
  out.push("# HELP raas_registry_requests_total HTTP requests answered, by route and status.");
  out.push("# TYPE raas_registry_requests_total counter");
  for (const [key, value] of [...data.requests].sort()) {
    const [route, status] = key.split(" ");
    out.push(`raas_registry_requests_total{route="${route}",status="${status}"} ${value}`);
  }
  out.push("# HELP raas_registry_request_duration_seconds Time to answer a request, by route.");
  out.push("# TYPE raas_registry_request_duration_seconds histogram");
  for (const [route, h] of [...data.latency].sort(([a], [b]) => a.localeCompare(b))) {
    let cumulative = 0;
    BUCKETS.forEach((bound, i) => {
      cumulative += h.counts[i] ?? 0;
      out.push(`raas_registry_request_duration_seconds_bucket{route="${route}",le="${bound}"} ${cumulative}`);
    });
    out.push(`raas_registry_request_duration_seconds_bucket{route="${route}",le="+Inf"} ${h.count}`);
    out.push(`raas_registry_request_duration_seconds_sum{route="${route}"} ${h.sum}`);
    out.push(`raas_registry_request_duration_seconds_count{route="${route}"} ${h.count}`);
  }
  out.push(
    "# HELP raas_registry_manifest_pulls_total Manifest GETs answered, by repository and tag or digest.",
  );
  out.push("# TYPE raas_registry_manifest_pulls_total counter");
  for (const [key, value] of [...data.pulls].sort()) {
    const [repository = "", reference = ""] = key.split("\n");
    out.push(
      `raas_registry_manifest_pulls_total{repository="${escapeLabel(repository)}",reference="${escapeLabel(reference)}"} ${value}`,
    );
  }
  // Event delivery and statistics (docs/events.md): backlog and pending counts are gauges.
  for (const [series, value] of [...(data.extra ?? [])].sort(([a], [b]) => a.localeCompare(b))) {
    out.push(`${series} ${value}`);
  }
  out.push("# HELP raas_registry_start_time_seconds When this process started.");
  out.push("# TYPE raas_registry_start_time_seconds gauge");
  out.push(`raas_registry_start_time_seconds ${Math.floor(data.started / 1000)}`);
  return `${out.join("\n")}\n`;
}
