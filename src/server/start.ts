import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createTlsServer, type Server as TlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { errorMessage, UserError } from "../errors.js";
import { createRegistryAccess, type RegistryAccess } from "./access.js";
import { createRegistryApp, type AccessRecord } from "./app.js";
import { loadServerConfig } from "./config.js";
import { createPushApi, type PushInjected } from "./push-setup.js";
import { UploadSweeper } from "./upload-sweep.js";
import { Metrics } from "./metrics.js";
import { createObserver, openServerStore } from "./observe.js";
import { RegistryError } from "./registry-error.js";
import { coalesced, followedMetadata, isFollowing, retryOnce, throttled } from "./follow.js";
import type { FollowRepository } from "./follow-git.js";
import type { FollowedMetadata } from "./snapshot-follow.js";
import { emptySnapshot, loadSnapshot, sourcesFingerprint, type Snapshot } from "./snapshot.js";
import { closeIdleConnections } from "./idle-connections.js";

/** One structured log record: a request, a reload, or a problem. */
export type LogRecord = Record<string, string | number | boolean>;

/**
 * How long a request that missed waits for the commit of a prepared snapshot: every worker is
 * loading the same files, so the last one is seconds behind at most on large metadata.
 */
const PENDING_COMMIT_WAIT_MS = 5_000;

export interface StartOptions {
  configPath?: string;
  /** Overrides `[raas] listen`. */
  host?: string;
  /** Overrides `[raas] port` and PORT; 0 picks a free port. */
  port?: number;
  env?: NodeJS.ProcessEnv;
  log?: (record: LogRecord) => void;
  /** Where access-log records go (default `log`). */
  accessLog?: (record: AccessRecord) => void;
  /** This process's counters (a cluster worker keeps them to answer the primary). */
  metrics?: Metrics;
  /** The `/metrics` text, when it is more than this process's counters (cluster workers). */
  renderMetrics?: () => Promise<string>;
  /**
   * Reloads are driven from outside (a cluster's primary: prepare, then commit) instead of by
   * this server's own polling.
   */
  coordinated?: boolean;
  /** After a write committed metadata (default: reload this process's snapshot; a cluster worker asks the primary). */
  afterCommit?: () => Promise<void>;
  /** The write API's dependencies (access layer, storage, metadata port); see push-setup.ts. */
  push?: PushInjected;
  /** What POST /raas/notify does in follow mode (default: check the followed branch now; a cluster worker tells the primary). */
  notify?: () => void;
  /** How long an idle keep-alive connection stays open, and how often that is checked (tests). */
  keepAlive?: { timeoutMs?: number; everyMs?: number };
}

export interface RunningRegistry {
  url: string;
  port: number;
  /** Stop accepting connections and wait for requests in flight. */
  close(): Promise<void>;
  /** Reload the metadata now, changed or not (SIGHUP). */
  reload(): Promise<void>;
  /**
   * Load the current metadata as the next snapshot, without serving it yet (coordinated mode);
   * returns the fingerprint of what was loaded (of the current snapshot if loading failed). In
   * follow mode `commit` names the commit to load (default: the one fetched last).
   */
  prepare(commit?: string): Promise<string>;
  /** Serve the prepared snapshot (coordinated mode); nothing when none is prepared. */
  commit(): void;
}

const SHUTDOWN_GRACE_MS = 10_000;

/** Plain HTTP, or HTTPS when `[raas] tls_cert` and `tls_key` are set (behind a router, TLS usually ends there). */
async function listenerFor(
  config: Awaited<ReturnType<typeof loadServerConfig>>,
  handler: ReturnType<typeof createRegistryApp>,
): Promise<Server | TlsServer> {
  // keepAliveTimeout 0: idle connections are closed by closeIdleConnections, not a timer per response.
  if (config.tlsCert === "") return createServer({ keepAliveTimeout: 0 }, handler);
  const read = (path: string, what: string) =>
    readFile(path).catch((err: NodeJS.ErrnoException) => {
      throw new UserError(`cannot read the TLS ${what} ${path}: ${err.code ?? err.message}`, {
        hint: "Set [raas] tls_cert and tls_key to readable PEM files, or remove both to serve plain HTTP.",
      });
    });
  const [cert, key] = await Promise.all([read(config.tlsCert, "certificate"), read(config.tlsKey, "key")]);
  try {
    return createTlsServer({ cert, key, keepAliveTimeout: 0 }, handler);
  } catch (err) {
    throw new UserError(
      `invalid TLS certificate or key (${config.tlsCert}, ${config.tlsKey}): ${errorMessage(err)}`,
    );
  }
}

/**
 * Load the config and metadata, listen, and keep the snapshot fresh: every polling interval the
 * data and manifest dirs are fingerprinted (every file's size, mtime and inode, so in-place edits
 * count, unlike Crane) and, on a change, a complete new snapshot replaces the old one at once.
 */
export async function startRegistryServer(options: StartOptions = {}): Promise<RunningRegistry> {
  const log = options.log ?? (() => undefined);
  const config = await loadServerConfig(options.configPath, options.env ?? process.env);
  for (const warning of config.warnings) log({ event: "config", level: "error", message: warning });
  const logLine = (message: string) => log({ event: "metadata", level: "warn", message });

  const followed = isFollowing(config) ? followedMetadata(config, logLine) : undefined;
  // Follow mode: the commit to start from. A cluster's primary fetched it before forking.
  const startCommit = async (repo: FollowRepository): Promise<string> =>
    (options.coordinated ? await repo.localHead() : undefined) ?? (await retryOnce(() => repo.update()));
  const loadFollowed = async (f: FollowedMetadata, commit: string): Promise<Snapshot> => {
    const started = Date.now();
    const loaded = await f.load(commit);
    if (loaded !== snapshot) {
      log({
        event: "reload",
        commit,
        parsed: f.lastParsed,
        ms: Date.now() - started,
        files: loaded.index.files.length,
        manifests: loaded.manifests.size,
      });
    }
    return loaded;
  };

  let snapshot: Snapshot = emptySnapshot();
  if (followed === undefined) {
    snapshot = await loadSnapshot(config, logLine);
    log({ event: "reload", files: snapshot.index.files.length, manifests: snapshot.manifests.size });
  } else {
    snapshot = await loadFollowed(followed, await startCommit(followed.repository));
  }
  // Follow mode: fetch when the branch moved and load what changed; one check at a time.
  const followCheck =
    followed === undefined
      ? undefined
      : coalesced(async () => {
          try {
            snapshot = await loadFollowed(followed, await followed.repository.update());
          } catch (err) {
            log({ event: "reload", level: "error", message: errorMessage(err) });
          }
        });

  let reloading: Promise<void> | undefined;
  let forcedNext: Promise<void> | undefined;
  const reload = (force: boolean): Promise<void> => {
    // One reload at a time; a poll that finds one running simply waits for it. A forced reload
    // (SIGHUP, after this process's own write) must see what was written before it was asked
    // for, which a running one may have read too early: it runs once more after it (callers
    // arriving meanwhile share that run).
    if (reloading !== undefined && force) {
      forcedNext ??= reloading.then(() => {
        forcedNext = undefined;
        return reload(true);
      });
      return forcedNext;
    }
    reloading ??= (async () => {
      try {
        if (!force && (await sourcesFingerprint(config)) === snapshot.fingerprint) return;
        snapshot = await loadSnapshot(config, logLine);
        log({ event: "reload", files: snapshot.index.files.length, manifests: snapshot.manifests.size });
      } catch (err) {
        log({ event: "reload", level: "error", message: errorMessage(err) });
      } finally {
        reloading = undefined;
      }
    })();
    return reloading;
  };

  let pending: Snapshot | undefined;
  // Requests that missed while a snapshot was prepared, waiting for the primary's commit.
  const commitWaiters = new Set<(adopted: boolean) => void>();
  const commit = (): boolean => {
    const adopted = pending !== undefined;
    for (const wake of commitWaiters) wake(adopted);
    commitWaiters.clear();
    if (pending === undefined) return false;
    snapshot = pending;
    pending = undefined;
    log({
      event: "reload",
      ...(followed === undefined ? {} : { commit: snapshot.fingerprint }),
      files: snapshot.index.files.length,
      manifests: snapshot.manifests.size,
    });
    return true;
  };
  const prepare = async (commit?: string): Promise<string> => {
    try {
      if (followed !== undefined) {
        const target = commit ?? (await followed.repository.localHead());
        if (target === undefined) return snapshot.fingerprint;
        const loaded = await followed.load(target);
        // The same commit as the one served: nothing to switch.
        pending = loaded === snapshot ? undefined : loaded;
        return loaded.fingerprint;
      }
      pending = await loadSnapshot(config, logLine);
      return pending.fingerprint;
    } catch (err) {
      log({ event: "reload", level: "error", message: errorMessage(err) });
      return snapshot.fingerprint;
    }
  };

  // The policy is part of the snapshot, so a deploy changes metadata and access.yaml together.
  const access = await createRegistryAccess(config, () => snapshot.policy);
  if (access.mode !== "off") log({ event: "auth", mode: access.mode });
  // Pull statistics and events go to the ISV's store (the serve_content directory or the bucket).
  const store = await openServerStore(config);
  const observer =
    store === undefined || (config.events.length === 0 && !config.stats.enable)
      ? undefined
      : createObserver(config, store, options.env ?? process.env, (message) =>
          log({ event: "events", level: "warn", message }),
        );
  const metrics = options.metrics ?? new Metrics();
  if (observer !== undefined) metrics.extraSeries = () => observer.gauges();
  const host = options.host ?? config.listen;
  const push = createPushApi(
    config,
    host,
    options.push ?? accessWrites(access, config.auth.mode === "off" ? "" : config.auth.service),
    options.afterCommit ?? followCheck ?? (() => reload(true)),
    (name) => {
      const repo = snapshot.index.v2.get(name);
      return repo !== undefined && repo.meta.protected !== true;
    },
    store,
    (message) => log({ event: "push", level: "warn", message }),
    observer?.recordWrite,
  );
  const sweeper =
    push === undefined || config.push.uploadSweepInterval === 0
      ? undefined
      : new UploadSweeper(
          push.store,
          push.sessions,
          {
            maxAgeMs: config.push.uploadMaxAge * 1000,
            intervalMs: config.push.uploadSweepInterval * 1000,
            owner: `${hostname()}:${process.pid}`,
          },
          (event) =>
            log({ event: "upload-sweep", ...(event.error === undefined ? {} : { level: "warn" }), ...event }),
        );
  sweeper?.start();
  const handler = createRegistryApp({
    ...(push === undefined ? {} : { push }),
    config,
    access,
    snapshot: () => snapshot,
    // A prepared snapshot goes live everywhere at once, when the primary has heard that every
    // worker prepared it; the commit reaches the workers one after another, so a request that
    // misses here may come from a client that saw it on another worker already: it waits for
    // this worker's commit (never serving the new snapshot before every worker holds it).
    awaitPending: () => {
      if (pending === undefined) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        const wake = (adopted: boolean) => {
          clearTimeout(timer);
          commitWaiters.delete(wake);
          resolve(adopted);
        };
        const timer = setTimeout(() => wake(false), PENDING_COMMIT_WAIT_MS);
        commitWaiters.add(wake);
      });
    },
    // Follow mode: POST /raas/notify asks for a check of the followed branch (throttled).
    ...(followCheck === undefined ? {} : { notify: options.notify ?? throttled(() => void followCheck()) }),
    log: logLine,
    ...(observer === undefined ? {} : { observer }),
    ...(store === undefined ? {} : { store }),
    ...(config.accessLog ? { accessLog: options.accessLog ?? log } : {}),
    metrics,
    ...(options.renderMetrics === undefined ? {} : { renderMetrics: options.renderMetrics }),
    // The web page's environments section: the environments.json record, while it is current;
    // and the private CA its pull commands must trust (raas's local CA, `tls_cert_dir`).
    web: {
      environments: (name, tag) => tagEnvironments(snapshot, name, tag),
      ...(config.tlsCertDir === "" ? {} : { certDir: config.tlsCertDir }),
    },
  });
  const server = await listenerFor(config, handler);
  const stopIdleSweep = closeIdleConnections(server, options.keepAlive);
  const port = options.port ?? config.port;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const timer = options.coordinated
    ? undefined
    : followCheck !== undefined
      ? setInterval(() => void followCheck(), config.metadata.followInterval * 1000)
      : setInterval(() => void reload(false), Math.max(config.pollingInterval, 0.05) * 1000);
  timer?.unref();

  const address = server.address() as AddressInfo;
  const urlHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `${config.tlsCert === "" ? "http" : "https"}://${urlHost === "0.0.0.0" ? "127.0.0.1" : urlHost}:${address.port}`,
    port: address.port,
    reload: () => followCheck?.() ?? reload(true),
    prepare,
    commit: () => void commit(),
    close: async () => {
      clearInterval(timer);
      stopIdleSweep();
      await sweeper?.stop().catch(() => undefined);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // A keep-alive connection whose request finishes after this point becomes idle later;
      // close those as they appear instead of waiting for the client or the grace period.
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      force.unref();
      await closed;
      clearInterval(sweep);
      clearTimeout(force);
      await reloading;
      // Every request has ended: store the last counts and events, give up the delivery lease.
      await observer?.close();
    },
  };
}

/**
 * Writes through the access rules (docs/auth.md): a push needs a login that may push the
 * repository (and tag), and its name becomes the author of the metadata commit. With auth off
 * nothing is injected, so writes stay refused unless `[push] unauthenticated_loopback` is set.
 */
function accessWrites(access: RegistryAccess, service: string): PushInjected {
  if (access.mode === "off") return {};
  return {
    authorizeWrite: async (req, name, tag) => {
      const who = await access.authorizeRequest(req, name, "push", tag);
      if (who === undefined) throw new RegistryError(401, "UNAUTHORIZED", "authentication required");
      return { name: who, email: `${who}@${service}` };
    },
    authorizeDelete: async (req, name, tag) => {
      const who = await access.authorizeRequest(req, name, "delete", tag);
      if (who === undefined) throw new RegistryError(401, "UNAUTHORIZED", "authentication required");
      return { name: who, email: `${who}@${service}` };
    },
    mayPull: async (req, name) => {
      try {
        await access.authorizeRequest(req, name, "pull");
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** Which environments `name:tag` passed through, when the record is for the digest it has now. */
function tagEnvironments(snapshot: Snapshot, name: string, tag: string) {
  const record = snapshot.approvals?.[`${name}:${tag}`];
  const meta = snapshot.index.v2.get(name)?.meta;
  const current = meta?.version === 4 ? meta["x-raas"]?.tags[tag] : undefined;
  if (record === undefined || current !== record.digest) return undefined;
  return record.environments.map((s) =>
    s.since === undefined ? { name: s.name } : { name: s.name, since: s.since },
  );
}
