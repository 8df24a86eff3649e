/**
 * What the registry records: pull events into the outbox (once per window per worker by
 * default, or before the response with `pull_events = request`), push and mount events of the
 * write API (before the response), pull counts into the statistics counter; plus the delivery
 * loop for the outbox.
 * Only a manifest GET of a repository raas published counts: not HEAD (a check, not a pull),
 * not blob redirects (one pull fetches many), not a child manifest fetched by digest after its
 * index (the same pull), and not cosign-style signature/attestation tags (`sha256-<hex>.sig`).
 */
import { makeEvent } from "../events/envelope.js";
import { expandHeaders } from "../events/config.js";
import { Dispatcher } from "../events/deliver.js";
import { Outbox, producerId } from "../events/outbox.js";
import { PullLog, pullEvent } from "../events/pull-log.js";
import { compactPullStats } from "../stats/aggregate.js";
import { PullCounter } from "../stats/counters.js";
import type { BlobStore } from "../storage/types.js";
import type { ServerConfig } from "./config.js";
import type { Req } from "./http.js";
import type { RecordWriteEvent } from "./push.js";

export interface PullInfo {
  req: Req;
  repository: string;
  /** The tag, or the digest when pulled by digest. */
  reference: string;
  digest: string;
  mediaType: string;
  size: number;
}

const SIGNATURE_TAG = /^sha256-[0-9a-f]{64}(\.[a-z]+)?$/;

export interface Observer {
  /**
   * Called for a counted manifest GET. Returns a promise (resolving when its event is stored)
   * only when pull events are durable per request; otherwise the event waits for its window.
   */
  pulled(pull: PullInfo): Promise<void> | undefined;
  /** Push and mount events of the write API, stored before the response; undefined without endpoints. */
  recordWrite: RecordWriteEvent | undefined;
  /** Series for /metrics (backlog, delivered, failures, dropped per endpoint). */
  gauges(): [string, number][];
  close(): Promise<void>;
}

/** Whether a manifest GET for `reference` is a pull (see the module comment). */
export function countsAsPull(reference: string, byDigestOfChild: boolean): boolean {
  return !byDigestOfChild && !SIGNATURE_TAG.test(reference);
}

/**
 * The blob store the registry records into and publishes to: the serve_content directory or the
 * S3 bucket; for an environment sharing the ISV's store, that environment's view of it (the same
 * keys `raas push --env` and `raas stats --env` use, docs/environments.md).
 */
export async function openServerStore(config: ServerConfig): Promise<BlobStore | undefined> {
  const store = await openPlainStore(config);
  const env = config.environment;
  if (store === undefined || env === undefined || !env.sharedStore) return store;
  const { EnvironmentStore } = await import("../environments/store.js");
  return new EnvironmentStore(store, env.name, env.ownRecords);
}

async function openPlainStore(config: ServerConfig): Promise<BlobStore | undefined> {
  if (config.serveContent.enable) {
    const { LocalStore } = await import("../storage/local.js");
    return new LocalStore(config.serveContent.contentDirV2);
  }
  if (config.storage.kind === "s3" && config.storage.bucket !== "") {
    const { S3Store } = await import("../storage/s3.js");
    return new S3Store({
      bucket: config.storage.bucket,
      region: config.storage.region,
      forcePathStyle: config.storage.forcePathStyle,
      ...(config.storage.endpoint === "" ? {} : { endpoint: config.storage.endpoint }),
    });
  }
  return undefined;
}

export function createObserver(
  config: ServerConfig,
  store: BlobStore,
  env: NodeJS.ProcessEnv,
  log: (message: string) => void,
): Observer {
  const producer = producerId();
  const endpoints = config.events;
  // The worker that delivers keeps the batches it writes and sends them at once, without reading
  // them back.
  const delivery: { dispatcher?: Dispatcher } = {};
  const outbox =
    endpoints.length > 0
      ? new Outbox(store, producer, undefined, {
          keep: () => delivery.dispatcher?.delivering() ?? false,
          stored: () => delivery.dispatcher?.wake(),
        })
      : undefined;
  const counter = config.stats.enable ? new PullCounter(store, producer) : undefined;
  // Closed days are compacted about hourly; concurrent compactions are safe (aggregate.ts).
  const compaction =
    counter === undefined
      ? undefined
      : setInterval(() => {
          compactPullStats(store).catch((err: unknown) =>
            log(`statistics compaction failed: ${String(err)}`),
          );
        }, 3_600_000);
  compaction?.unref();
  counter?.start(config.stats.flushIntervalMs, (err) =>
    log(`statistics flush failed (kept for the next one): ${String(err)}`),
  );
  const dispatcher =
    endpoints.length > 0
      ? new Dispatcher({
          store,
          endpoints,
          owner: producer,
          headers: (e) => expandHeaders(e.headers, env),
          pollMs: config.eventsPollMs,
          log,
          ...(outbox === undefined ? {} : { kept: outbox }),
        })
      : undefined;
  delivery.dispatcher = dispatcher;
  dispatcher?.start();
  const source = { addr: config.endpoint, instanceID: producer };
  const durablePulls = endpoints.some((e) => e.pullEvents === "request");
  const windowMs = Math.min(60_000, ...endpoints.map((e) => e.pullWindowMs));
  /** This window's pull events, until the outbox takes them (then a new log starts). */
  let pulls: PullLog | undefined;
  let unstored = 0;
  let lastWarning = 0;
  const unstoredEvents = (count: number, err: unknown) => {
    unstored += count;
    if (Date.now() - lastWarning > 10_000) {
      lastWarning = Date.now();
      log(`cannot store events (${unstored} so far): ${String(err)}`);
    }
  };
  const requestOf = (req: Req) => ({
    addr: req.socket.remoteAddress ?? "",
    host: req.headers.host ?? "",
    method: req.method ?? "GET",
    useragent: req.headers["user-agent"] ?? "",
  });
  return {
    recordWrite:
      outbox === undefined
        ? undefined
        : async (req, action, target, actor) => {
            const event = makeEvent({ action, target, request: requestOf(req), actor, source });
            // The write is committed: a store that refuses the event does not undo it.
            await outbox.record(event).catch((err: unknown) => unstoredEvents(1, err));
          },
    pulled(pull) {
      counter?.count(pull.repository, pull.reference);
      if (outbox === undefined) return undefined;
      const { req, repository, reference, digest, mediaType, size } = pull;
      const fields = {
        at: Date.now(),
        repository,
        reference,
        digest,
        mediaType,
        size,
        ...requestOf(req),
      };
      if (!durablePulls) {
        // The window (docs/events.md, "Durability"): stored with the others of this worker
        // within `pull_window`; a crash loses at most those. The pull does not wait. Its event
        // is kept as a row of the window's PullLog (the request object itself is not kept) and
        // made when the log is written.
        if (pulls === undefined || pulls.closed) {
          pulls = new PullLog(source);
          pulls.add(fields);
          outbox.defer(pulls, windowMs, unstoredEvents);
        } else {
          pulls.add(fields);
          // A full window is written at once; behind a hanging write, pending pulls stay bounded.
          if ((pulls.count & 1023) === 0) outbox.grew(windowMs, unstoredEvents);
        }
        return undefined;
      }
      // A pull is never refused for its event: when the store refuses the write, the event is
      // counted as unstored and logged (at most every 10 s), and the pull is answered.
      return outbox.record(pullEvent(fields, source)).catch((err: unknown) => unstoredEvents(1, err));
    },
    gauges() {
      const out: [string, number][] = [];
      for (const s of dispatcher?.snapshot() ?? []) {
        const label = `{endpoint="${s.endpoint}"}`;
        out.push([`raas_events_backlog${label}`, s.backlog]);
        out.push([`raas_events_delivered_total${label}`, s.delivered]);
        out.push([`raas_events_failures_total${label}`, s.failures]);
        out.push([`raas_events_dropped_total${label}`, s.dropped]);
      }
      out.push(["raas_events_stored_total", outbox?.stored ?? 0]);
      out.push(["raas_events_unstored_total", unstored]);
      out.push(["raas_events_pending_pulls", outbox?.pendingDeferred ?? 0]);
      out.push(["raas_stats_pending_pulls", counter?.pending ?? 0]);
      return out;
    },
    async close() {
      clearInterval(compaction);
      await outbox?.flush(unstoredEvents);
      await dispatcher?.stop();
      await counter?.stop();
    },
  };
}
