/**
 * The registry on every core: a primary process forks N workers (node:cluster) that share the
 * listening socket; each worker is a complete server with its own metadata snapshot, kept fresh
 * by its own polling. The primary serves nothing. It
 * - logs `listening` once every worker listens, and stops with the workers' error if one fails
 *   to start (a bad config or a taken port would otherwise respawn forever);
 * - replaces a worker that dies (with a pause when they keep dying);
 * - watches the metadata (every polling interval, and on SIGHUP) and switches every worker to a
 *   new snapshot together: each worker first loads it ("prepare"), and only when all have is it
 *   served ("commit"). The commit reaches the workers one after another: a worker asked for
 *   something it does not know while holding a prepared snapshot waits for its own commit and
 *   then answers from the new snapshot (app.ts), so a client that got a new manifest from one
 *   worker never gets a 404 for it or its blobs from another, and no worker serves a snapshot
 *   before every worker has prepared it;
 * - forwards SIGTERM/SIGINT (drain and stop) to every worker, and exits once all have finished
 *   their requests in flight;
 * - answers a worker's `/metrics` with the counters of all workers added up.
 */
import cluster, { type Worker } from "node:cluster";
import { errorMessage } from "../errors.js";
import type { ServerConfig } from "./config.js";
import type { LineLog } from "./log-lines.js";
import { mergeMetrics, renderMetrics, type Metrics, type MetricsData } from "./metrics.js";
import { followRepository, isFollowing, retryOnce, throttled } from "./follow.js";
import { sourcesFingerprint } from "./snapshot.js";
import type { RunningRegistry } from "./start.js";
import { workerExecArgv } from "./workers.js";

/** Messages between primary and workers, all tagged `raas`. */
export type Message =
  | { raas: "listening"; url: string }
  | { raas: "prepare"; gen: number; commit?: string }
  | { raas: "notify" }
  | { raas: "prepared"; gen: number; fingerprint: string }
  | { raas: "commit"; gen: number }
  | { raas: "stop" }
  | { raas: "reload-request"; id: number }
  | { raas: "reload-done"; id: number }
  | { raas: "metrics-request"; id: number }
  | { raas: "metrics-collect"; id: number }
  | { raas: "metrics-data"; id: number; data: MetricsData }
  | { raas: "metrics-reply"; id: number; data: MetricsData };

/** Either end of a worker's IPC channel: a worker's `process` in the primary, `process` in a worker. */
export interface Channel {
  readonly connected: boolean;
  send?(
    message: Message,
    sendHandle: undefined,
    options: undefined,
    callback: (error: Error | null) => void,
  ): boolean;
}

/**
 * Send `message` over a channel whose other end may be going away: a stopping worker closes its
 * end when its last request is done, and the primary's can close at any time. Node reports a
 * send that finds the channel closed (or a write that fails with EPIPE) as an 'error' event when
 * the send has no callback, and an unhandled 'error' ends the process: a primary that sent a
 * reload to a worker that had just finished would take every other worker, and the requests they
 * were still serving, down with it. Here such a message is dropped and `failed` is called (on a
 * later tick, whatever the cause): the end itself is handled where it is noticed (the primary's
 * `exit` listener; a worker ends when its primary does).
 */
export function sendOver(channel: Channel, message: Message, failed?: () => void): void {
  if (!channel.connected || channel.send === undefined) {
    if (failed !== undefined) process.nextTick(failed);
    return;
  }
  channel.send(message, undefined, undefined, (error) => {
    if (error !== null && failed !== undefined) failed();
  });
}

function isMessage(value: unknown): value is Message {
  return (
    typeof value === "object" && value !== null && typeof (value as { raas?: unknown }).raas === "string"
  );
}

/** How long the primary waits for every worker's counters before answering with those it has. */
const METRICS_WAIT_MS = 1000;
/** After SIGTERM, workers still running after this are killed (their own grace is 10 s). */
const STOP_DEADLINE_MS = 15_000;
/** More crashes than this within CRASH_WINDOW_MS and replacements wait RESPAWN_PAUSE_MS. */
const CRASH_BURST = 3;
const CRASH_WINDOW_MS = 10_000;
const RESPAWN_PAUSE_MS = 1000;
/** A worker that has not loaded a new snapshot after this is not waited for. */
const PREPARE_WAIT_MS = 60_000;

/**
 * Run the primary: fork `count` workers of this same script (same arguments) and supervise them.
 * In follow mode the primary alone fetches the followed branch (first before forking, so every
 * worker starts from the same commit) and names the commit each round of workers loads.
 */
export async function runPrimary(count: number, out: LineLog, config: ServerConfig): Promise<void> {
  const log: LineLog["log"] = (record) => out.log(record);
  const repo = isFollowing(config) ? followRepository(config) : undefined;
  if (repo !== undefined) await retryOnce(() => repo.update());
  // Workers start with the young-generation settings measured for a loaded server (workers.ts).
  cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS) });
  const listening = new Set<Worker>();
  let url: string | undefined;
  let started = false;
  let stopping = false;
  let failedCode = 0;
  const crashes: number[] = [];
  let collectSeq = 0;
  const collections = new Map<number, { waiting: Set<Worker>; parts: MetricsData[]; done: () => void }>();

  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);

  let generation = 0;
  let fingerprint: string | undefined;
  let preparing: { gen: number; waiting: Set<Worker>; prepared: Set<string>; done: () => void } | undefined;
  let checking = false;
  let again: boolean | undefined;

  /** Every listening worker loads the metadata as its next snapshot; the fingerprints they loaded. */
  function prepareAll(commit: string | undefined): Promise<{ gen: number; prepared: Set<string> }> {
    const gen = ++generation;
    const workers = live().filter((w) => listening.has(w) && w.isConnected());
    return new Promise((resolve) => {
      const prepared = new Set<string>();
      const timer = setTimeout(finish, PREPARE_WAIT_MS);
      function finish() {
        clearTimeout(timer);
        preparing = undefined;
        resolve({ gen, prepared });
      }
      preparing = {
        gen,
        waiting: new Set(workers),
        prepared,
        done: () => preparing?.waiting.size === 0 && finish(),
      };
      const round = preparing;
      for (const w of workers) {
        // A worker that can no longer hear it (it is stopping) is not waited for.
        sendOver(w.process, { raas: "prepare", gen, ...(commit === undefined ? {} : { commit }) }, () => {
          if (preparing !== round) return; // that round is over
          round.waiting.delete(w);
          round.done();
        });
      }
      preparing.done();
    });
  }

  /**
   * On a change (or when forced), every worker prepares the new snapshot, then all commit. A push
   * landing while they load can make them load different states: then they load again (a few
   * times at most) until all hold the same one. A request for a reload while one runs is not
   * lost: it runs again afterwards.
   */
  const reloadWaiters: (() => void)[] = [];
  async function reloadAll(force: boolean): Promise<void> {
    if (stopping || !started) return;
    if (checking) {
      again = (again ?? false) || force;
      return;
    }
    checking = true;
    // Workers that asked for this reload (after a write) hear back once it is served everywhere.
    const served = reloadWaiters.splice(0);
    try {
      // Follow mode: the fingerprint is the commit, and every worker loads exactly that one.
      const now =
        repo === undefined ? await sourcesFingerprint(config) : await retryOnce(() => repo.update());
      // A stop that came while this looked or loaded ends the reload: the workers are draining.
      if (stopping || (!force && now === fingerprint)) return;
      const target = repo === undefined ? undefined : now;
      let round = await prepareAll(target);
      for (let attempt = 1; attempt < 5 && round.prepared.size > 1 && !stopping; attempt++) {
        round = await prepareAll(target);
      }
      if (stopping) return;
      fingerprint = round.prepared.size === 1 ? [...round.prepared][0] : undefined;
      for (const w of live()) sendOver(w.process, { raas: "commit", gen: round.gen });
    } catch (err) {
      log({ event: "reload", level: "error", message: errorMessage(err) });
    } finally {
      checking = false;
      for (const done of served) done();
      const rerun = again;
      again = undefined;
      if (rerun !== undefined) void reloadAll(rerun);
    }
  }

  function collect(): Promise<MetricsData[]> {
    const id = ++collectSeq;
    const workers = live().filter((w) => w.isConnected());
    return new Promise((resolve) => {
      const entry = { waiting: new Set(workers), parts: [] as MetricsData[], done: () => undefined };
      const finish = () => {
        clearTimeout(timer);
        collections.delete(id);
        resolve(entry.parts);
      };
      entry.done = () => {
        if (entry.waiting.size === 0) finish();
      };
      const timer = setTimeout(finish, METRICS_WAIT_MS);
      collections.set(id, entry);
      for (const w of workers) {
        sendOver(w.process, { raas: "metrics-collect", id }, () => {
          entry.waiting.delete(w);
          entry.done();
        });
      }
      entry.done();
    });
  }

  function onMessage(worker: Worker, message: unknown): void {
    if (!isMessage(message)) return;
    if (message.raas === "listening") {
      listening.add(worker);
      url ??= message.url;
      log({ event: "worker", pid: worker.process.pid ?? 0, state: "listening" });
      if (!started && listening.size >= count) {
        started = true;
        log({ event: "listening", url, workers: count });
      }
      // A new worker loaded whatever is on disk now: bring the others to the same point.
      void reloadAll(false);
    } else if (message.raas === "prepared") {
      if (preparing?.gen !== message.gen) return;
      preparing.prepared.add(message.fingerprint);
      preparing.waiting.delete(worker);
      preparing.done();
    } else if (message.raas === "notify") {
      if (repo !== undefined) notified();
    } else if (message.raas === "reload-request") {
      const { id } = message;
      reloadWaiters.push(() => sendOver(worker.process, { raas: "reload-done", id }));
      void reloadAll(true);
    } else if (message.raas === "metrics-request") {
      void collect().then((parts) => {
        sendOver(worker.process, { raas: "metrics-reply", id: message.id, data: mergeMetrics(parts) });
      });
    } else if (message.raas === "metrics-data") {
      const entry = collections.get(message.id);
      if (entry === undefined) return;
      entry.parts.push(message.data);
      entry.waiting.delete(worker);
      entry.done();
    }
  }

  function fork(): void {
    const worker = cluster.fork();
    log({ event: "worker", pid: worker.process.pid ?? 0, state: "started" });
    worker.on("message", (message: unknown) => onMessage(worker, message));
    // Every send has its own callback (sendOver); anything else the channel or a signal reports
    // is logged: an unhandled 'error' would end the primary and every worker with it.
    worker.on("error", (err: unknown) => {
      log({ event: "worker", level: "error", pid: worker.process.pid ?? 0, message: errorMessage(err) });
    });
  }

  function stopAll(signal: string): void {
    if (stopping) return;
    stopping = true;
    log({ event: "shutdown", signal, workers: live().length });
    for (const w of live()) sendOver(w.process, { raas: "stop" });
    clearInterval(poll);
    const force = setTimeout(() => {
      for (const w of live()) w.process.kill("SIGKILL");
    }, STOP_DEADLINE_MS);
    force.unref();
  }

  cluster.on("exit", (worker, code, signal) => {
    listening.delete(worker);
    preparing?.waiting.delete(worker);
    preparing?.done();
    for (const entry of collections.values()) {
      entry.waiting.delete(worker);
      entry.done();
    }
    const how = signal === null ? `code ${code}` : signal;
    if (stopping || !started) {
      if (code !== 0 || signal !== null) failedCode ||= code || 1;
      if (!stopping) {
        // A worker that cannot start (config, port, TLS files): the others cannot either.
        log({
          event: "worker",
          level: "error",
          pid: worker.process.pid ?? 0,
          message: `failed to start (${how})`,
        });
        stopAll("startup failure");
      }
      if (live().length === 0) {
        out.flush();
        process.exitCode = failedCode;
      }
      return;
    }
    const now = Date.now();
    crashes.push(now);
    while (crashes.length > 0 && (crashes[0] ?? now) < now - CRASH_WINDOW_MS) crashes.shift();
    log({
      event: "worker",
      level: "error",
      pid: worker.process.pid ?? 0,
      message: `exited (${how}); starting a replacement`,
    });
    const pause = crashes.length > CRASH_BURST ? RESPAWN_PAUSE_MS : 0;
    setTimeout(() => {
      if (!stopping) fork();
    }, pause);
  });

  const notified = throttled(() => void reloadAll(false));
  process.on("SIGHUP", () => void reloadAll(true));
  const interval =
    repo === undefined ? Math.max(config.pollingInterval, 0.05) : config.metadata.followInterval;
  const poll = setInterval(() => void reloadAll(false), interval * 1000);
  poll.unref();
  process.on("SIGTERM", () => stopAll("SIGTERM"));
  process.on("SIGINT", () => stopAll("SIGINT"));
  for (let i = 0; i < count; i++) fork();
}

/**
 * The worker's side: tell the primary it listens, obey reload/stop, hand over its counters, and
 * answer `/metrics` with everyone's. Returns the `renderMetrics` for the worker's server.
 */
export function workerMetrics(metrics: Metrics): () => Promise<string> {
  const waiting = new Map<number, (data: MetricsData) => void>();
  let seq = 0;
  process.on("message", (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.raas === "metrics-collect") {
      sendOver(process, { raas: "metrics-data", id: message.id, data: metrics.data() });
    } else if (message.raas === "metrics-reply") {
      waiting.get(message.id)?.(message.data);
    }
  });
  return () =>
    new Promise((resolve) => {
      const id = ++seq;
      const timer = setTimeout(() => answer(metrics.data()), METRICS_WAIT_MS * 2);
      function answer(data: MetricsData) {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(renderMetrics(data));
      }
      waiting.set(id, answer);
      sendOver(process, { raas: "metrics-request", id });
    });
}

/**
 * In a worker: ask the primary to bring every worker to the metadata on disk now, and resolve
 * once they all serve it (or after a while, when the primary does not answer).
 */
export function workerReload(): () => Promise<void> {
  const waiting = new Map<number, () => void>();
  let seq = 0;
  process.on("message", (message: unknown) => {
    if (isMessage(message) && message.raas === "reload-done") waiting.get(message.id)?.();
  });
  return () =>
    new Promise((resolve) => {
      const id = ++seq;
      const timer = setTimeout(done, PREPARE_WAIT_MS / 6);
      function done() {
        clearTimeout(timer);
        waiting.delete(id);
        resolve();
      }
      waiting.set(id, done);
      sendOver(process, { raas: "reload-request", id });
    });
}

/** In a worker: POST /raas/notify is passed to the primary, which alone fetches. */
export function workerNotify(): () => void {
  return () => sendOver(process, { raas: "notify" });
}

/** Connect a started worker's registry to the primary: announce it, and obey reload and stop. */
export function superviseWorker(registry: RunningRegistry, stop: (reason: string) => void): void {
  process.on("message", (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.raas === "prepare") {
      const { gen } = message;
      void registry
        .prepare(message.commit)
        .then((fingerprint) => sendOver(process, { raas: "prepared", gen, fingerprint }));
    } else if (message.raas === "commit") registry.commit();
    else if (message.raas === "stop") stop("primary");
  });
  sendOver(process, { raas: "listening", url: registry.url });
}
