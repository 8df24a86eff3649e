import type { LogFn } from "../crane/load.js";
import { errorMessage } from "../errors.js";
import { asRegistryError, OPEN_ACCESS, type RegistryAccess } from "./access.js";
import type { BlobStore } from "../storage/types.js";
import { handleAdmin } from "./admin.js";
import type { ServerConfig } from "./config.js";
import type { RequestContext } from "./context.js";
import { type Req, type Res, redirect, responseBytes, send, sendJson } from "./http.js";
import { Metrics, routeOf } from "./metrics.js";
import type { Observer, PullInfo } from "./observe.js";
import { handleStats } from "./stats-route.js";
import { webPullStats } from "./web-stats.js";
import { handleLoaded } from "./loaded-route.js";
import { handleNotify } from "./notify-route.js";
import { noRoute, RegistryError, renderRegistryError } from "./registry-error.js";
import type { Snapshot } from "./snapshot.js";
import { storageUrlBuilder, type StorageUrlFn } from "./storage-url.js";
import { handleV1 } from "./v1.js";
import type { PushApi } from "./push.js";
import { handleV2 } from "./v2.js";
import { requestFinished, requestStarted } from "./idle-connections.js";
import { createWebUi, wantsHtml, type WebOptions } from "../web/index.js";

export interface RegistryDeps {
  config: ServerConfig;
  /** The current snapshot; read once per request. */
  snapshot: () => Snapshot;
  now?: () => Date;
  log?: LogFn;
  /**
   * Replaces the storage URL builder (tests). As with the builder's, a string it returns for a
   * public blob is kept with the snapshot unless CDN tokens are on (stableStorageUrls).
   */
  storageUrl?: StorageUrlFn;
  /** Counters for `/metrics`; one per process (a fresh one when omitted). */
  metrics?: Metrics;
  /** The `/metrics` text; default this process's counters (a cluster worker asks for all workers'). */
  renderMetrics?: () => Promise<string>;
  /**
   * A cluster worker holding a prepared snapshot: wait (briefly) until the primary commits it,
   * then serve it; true when it did. Called when a request would be answered 404, and the request
   * is then answered again. It never serves a snapshot before every worker has prepared it.
   */
  awaitPending?: () => Promise<boolean>;
  /** Pull statistics and pull events (observe.ts); nothing is recorded without it. */
  observer?: Observer;
  /** The store statistics are read from, for `/raas/stats/<name>`. */
  store?: BlobStore;
  /** Called once per finished request with its access-log record. */
  accessLog?: (record: AccessRecord) => void;
  /** The write API (blob uploads, manifest PUT); absent: every write is refused with 405. */
  push?: PushApi;
  /**
   * The web page's plug-ins: environments, and for tests `canPull` and `pullStats` (by default
   * the page reads the statistics from `store`, and who may see what from `access`).
   */
  web?: WebOptions;
  /** Who may do what (`[auth]`, access.ts); default: everything anonymous and public. */
  access?: RegistryAccess;
  /** Follow mode: POST /raas/notify asks for a check of the followed branch (absent: 404). */
  notify?: () => void;
}

export type AccessRecord = {
  event: "request";
  method: string;
  path: string;
  route: string;
  status: number;
  ms: number;
  bytes: number;
  remote: string;
};

export type RequestHandler = (req: Req, res: Res) => void;

const STARTED = Symbol("raas.started");
/** A response with the time its request arrived (performance.now()), for the access log. */
type TimedRes = Res & { [STARTED]?: number };

const MAX_PATH = 2048;
const READ_METHODS = ["GET", "HEAD"];
const USERS_METHODS = ["GET", "HEAD", "POST"];

/** Split a raw request path into decoded segments; undefined if any segment is not decodable. */
function segmentsOf(path: string): string[] | undefined {
  try {
    if (!path.includes("%")) return path.split("/"); // nothing to decode: the common case
    const segments = path.split("/").map((segment) => decodeURIComponent(segment));
    // An encoded `/` or NUL inside a segment is never legitimate; refusing it keeps each
    // segment a single path component for every check that follows.
    return segments.some((s) => s.includes("/") || s.includes("\0")) ? undefined : segments;
  } catch {
    return undefined;
  }
}

/** What every request of one registry shares. */
interface Shared {
  config: ServerConfig;
  storageUrl: StorageUrlFn;
  log: LogFn;
  metrics: Metrics;
  access: RegistryAccess;
  pulled: ((pull: PullInfo) => Promise<void> | undefined) | undefined;
  store: BlobStore | undefined;
  now: () => Date;
}

/**
 * One request's context. A class, so that the query string and the clock are read only by the
 * routes that ask for them (most requests, manifests and blobs, never do) through getters on the
 * prototype, and so that every context has the same shape.
 */
class Context implements RequestContext {
  readonly config: ServerConfig;
  readonly storageUrl: StorageUrlFn;
  readonly log: LogFn;
  readonly metrics: Metrics;
  readonly access: RegistryAccess;
  readonly pulled: Shared["pulled"];
  readonly store: BlobStore | undefined;
  #query: URLSearchParams | undefined;
  #now: Date | undefined;

  constructor(
    readonly req: Req,
    readonly res: Res,
    readonly snap: Snapshot,
    private readonly shared: Shared,
    private readonly rawQuery: string,
  ) {
    this.config = shared.config;
    this.storageUrl = shared.storageUrl;
    this.log = shared.log;
    this.metrics = shared.metrics;
    this.access = shared.access;
    this.pulled = shared.pulled;
    this.store = shared.store;
  }

  get query(): URLSearchParams {
    return (this.#query ??= new URLSearchParams(this.rawQuery));
  }

  /** The request's time: read on first use, then the same for the rest of the request. */
  get now(): Date {
    return (this.#now ??= this.shared.now());
  }
}

/**
 * The registry as a plain `(req, res)` handler: it never listens, so tests and `start.ts` can
 * mount it on any server. The path is split on raw `/` before decoding, so `%2F` and `%2e%2e`
 * stay inside one segment, where the name and digest grammars reject them.
 */
export function createRegistryApp(deps: RegistryDeps): RequestHandler {
  const now = deps.now ?? (() => new Date());
  const log = deps.log ?? (() => undefined);
  const storageUrl = deps.storageUrl ?? storageUrlBuilder(deps.config, now);
  const metrics = deps.metrics ?? new Metrics();
  const accessLog = deps.accessLog;
  const access = deps.access ?? OPEN_ACCESS;
  // The page learns who its visitor is from the access layer, and pull counts from the statistics.
  const webOptions: WebOptions = {
    ...(deps.store !== undefined && deps.config.stats.enable
      ? { pullStats: webPullStats(deps.store, now, log) }
      : {}),
    ...deps.web,
    ...(access.web === undefined ? {} : { auth: access.web }),
  };
  // The web page (src/web) reads the same snapshot and reaches storage the way redirects do.
  const web = createWebUi({
    snapshot: deps.snapshot,
    ...(deps.config.serveContent.enable ? { contentDir: deps.config.serveContent.contentDirV2 } : {}),
    storageUrl: async (key, repoUrl) => storageUrl(key, "GET", repoUrl),
    log,
    options: webOptions,
  });

  // Built once, not per request: the hot path allocates as little as it can.
  const observer = deps.observer;
  const pulled = observer === undefined ? undefined : (pull: PullInfo) => observer.pulled(pull);
  const shared: Shared = {
    config: deps.config,
    storageUrl,
    log,
    metrics,
    access,
    pulled,
    store: deps.store,
    now,
  };

  /**
   * Answer one request. Routes that need to wait (tokens, the write API, storage) return a
   * promise; the rest, manifests from the snapshot above all, answer before returning and
   * return nothing, so the hot path creates no promise and waits for no microtask.
   */
  function route(req: Req, res: Res): Promise<void> | void {
    const raw = req.url ?? "/";
    const q = raw.indexOf("?");
    const path = q < 0 ? raw : raw.slice(0, q);
    const ctx = new Context(req, res, deps.snapshot(), shared, q < 0 ? "" : raw.slice(q + 1));
    // Only local mode issues tokens: the others skip the call (and its wait) on every request.
    if (access.mode === "local") {
      return access
        .tokenRoute(req, res)
        .then((answered) => (answered ? undefined : routeAfterToken(ctx, path)));
    }
    return routeAfterToken(ctx, path);
  }

  function routeAfterToken(ctx: Context, path: string): Promise<void> | void {
    const { req, res } = ctx;
    // The web page answers its own methods (GET, HEAD; POST for its login form).
    if (path === "/ui" || path.startsWith("/ui/")) return web(req, res);
    if (path === "/raas/notify" && deps.notify !== undefined) return handleNotify(req, res, deps.notify);
    // The write API sees every /v2/ request that is a write or an upload session's status.
    const push = deps.push;
    if (push !== undefined && path.startsWith("/v2/")) {
      const segments = path.length > MAX_PATH ? undefined : segmentsOf(path);
      if (segments === undefined) throw noRoute();
      return push
        .handle(ctx, segments.slice(2))
        .then((handled) => (handled ? undefined : routeRead(ctx, path)));
    }
    return routeRead(ctx, path);
  }

  function routeRead(ctx: Context, path: string): Promise<void> | void {
    const { req, res } = ctx;
    const isUsers = path === "/v1/users" || path === "/v1/users/";
    const allowed = isUsers ? USERS_METHODS : READ_METHODS;
    if (!allowed.includes(req.method ?? "")) {
      return send(req, res, 405, "Method Not Allowed", {
        Allow: allowed.join(", "),
        "Content-Type": "text/plain",
      });
    }
    const segments = path.length > MAX_PATH ? undefined : segmentsOf(path);
    if (segments === undefined || segments[0] !== "") {
      throw noRoute();
    }
    const top = segments[1];
    const rest = segments.slice(2);
    if (top === "v2" && rest.length === 0) return redirect(req, res, 302, "/v2/");
    if (top === "v2") return handleV2(ctx, rest);
    if (top === "v1") return handleV1(ctx, rest);
    if (top === "healthz" && rest.length === 0) return sendJson(req, res, 200, { status: "ok" });
    if (top === "readyz" && rest.length === 0) {
      const ready = ctx.snap.loadedAt.getTime() > 0;
      const isv = ctx.config.isv === undefined || ctx.config.isv === "" ? {} : { isv: ctx.config.isv };
      return sendJson(req, res, ready ? 200 : 503, { status: ready ? "ready" : "loading", ...isv });
    }
    if (top === "metrics" && rest.length === 0) {
      const text =
        deps.renderMetrics === undefined ? Promise.resolve(metrics.render()) : deps.renderMetrics();
      return text.then((body) =>
        send(req, res, 200, body, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }),
      );
    }
    if (top === "crane") return handleAdmin(ctx, rest);
    if (top === "raas" && rest[0] === "stats") return handleStats(ctx, deps.store, rest.slice(1));
    if (top === "raas" && rest[0] === "loaded") return handleLoaded(ctx, rest.slice(1));
    // A browser asking `/` for HTML goes to the web page (API clients still get the 404).
    if (top === "" && rest.length === 0 && wantsHtml(req)) return redirect(req, res, 302, "/ui/");
    send(req, res, 404, "Not Found", { "Content-Type": "text/html; charset=utf-8" });
  }

  /**
   * Metrics and the access-log line of a finished request: the response's "finish" listener,
   * one function for every request (`this` is the response), so a request allocates no closure.
   */
  function finished(this: Res): void {
    const req = this.req;
    const now = performance.now();
    requestFinished(req.socket, now);
    const seconds = (now - ((this as TimedRes)[STARTED] ?? 0)) / 1000;
    const raw = req.url ?? "/";
    const q = raw.indexOf("?");
    const route = routeOf(q < 0 ? raw : raw.slice(0, q));
    metrics.observe(route, this.statusCode, seconds);
    accessLog?.({
      event: "request",
      method: req.method ?? "",
      path: raw.slice(0, 512),
      route,
      status: this.statusCode,
      ms: Math.round(seconds * 1e6) / 1000,
      bytes: responseBytes.get(this) ?? 0,
      remote: req.socket.remoteAddress ?? "",
    });
  }

  const fail = (req: Req, res: Res, thrown: unknown) => {
    const err = asRegistryError(thrown);
    if (!(err instanceof RegistryError)) {
      log(`internal error on ${req.method ?? "?"} ${(req.url ?? "").slice(0, 200)}: ${errorMessage(err)}`);
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    renderRegistryError(
      req,
      res,
      err instanceof RegistryError ? err : new RegistryError(500, "UNKNOWN", "internal server error"),
    );
  };

  /** A request that failed: a 404 a prepared snapshot may answer is tried again once it is served. */
  const failed = (req: Req, res: Res, err: unknown) => {
    const awaitPending = deps.awaitPending;
    if (
      err instanceof RegistryError &&
      err.status === 404 &&
      !res.headersSent &&
      awaitPending !== undefined
    ) {
      awaitPending()
        .then((adopted) => (adopted && !res.headersSent ? route(req, res) : Promise.reject(err)))
        .catch((thrown: unknown) => fail(req, res, thrown));
      return;
    }
    fail(req, res, err);
  };

  return (req, res) => {
    requestStarted(req.socket);
    (res as TimedRes)[STARTED] = performance.now();
    // `on`, not `once`: "finish" is emitted once, and `once` would wrap the listener every time.
    res.on("finish", finished);
    let answering: Promise<void> | void;
    try {
      answering = route(req, res);
    } catch (err) {
      failed(req, res, err);
      return;
    }
    answering?.catch((err: unknown) => failed(req, res, err));
  };
}
