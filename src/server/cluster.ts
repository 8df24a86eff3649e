/**
 * The registry on every core: a primary process forks N workers (node:cluster) that share the
 * listening socket; each worker is a complete server with its own metadata snapshot, kept fresh
 * by its own polling. The primary serves nothing. It
 * - logs `listening` once every worker listens, and stops with the workers' error if one fails
 *   to start (a bad config or a taken port would otherwise respawn forever);
 * - replaces a worker that dies (with a pause when they keep dying);
 * - forwards SIGHUP (reload) and SIGTERM/SIGINT (drain and stop) to every worker, and exits
 *   once all have finished their requests in flight;
 * - answers a worker's `/metrics` with the counters of all workers added up.
 */
import cluster, { type Worker } from "node:cluster";
import type { LineLog } from "./log-lines.js";
import { mergeMetrics, renderMetrics, type Metrics, type MetricsData } from "./metrics.js";
import type { RunningRegistry } from "./start.js";

/** Messages between primary and workers, all tagged `raas`. */
type Message =
  | { raas: "listening"; url: string }
  | { raas: "reload" }
  | { raas: "stop" }
  | { raas: "metrics-request"; id: number }
  | { raas: "metrics-collect"; id: number }
  | { raas: "metrics-data"; id: number; data: MetricsData }
  | { raas: "metrics-reply"; id: number; data: MetricsData };

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

/** Run the primary: fork `count` workers of this same script (same arguments) and supervise them. */
export function runPrimary(count: number, out: LineLog): void {
  const log = out.log;
  const listening = new Set<Worker>();
  let url: string | undefined;
  let started = false;
  let stopping = false;
  let failedCode = 0;
  const crashes: number[] = [];
  let collectSeq = 0;
  const collections = new Map<number, { waiting: Set<Worker>; parts: MetricsData[]; done: () => void }>();

  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);

  function collect(): Promise<MetricsData[]> {
    const id = ++collectSeq;
    const workers = live();
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
      for (const w of workers) w.send({ raas: "metrics-collect", id } satisfies Message);
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
    } else if (message.raas === "metrics-request") {
      void collect().then((parts) => {
        if (!worker.isConnected()) return;
        const data = mergeMetrics(parts);
        worker.send({ raas: "metrics-reply", id: message.id, data } satisfies Message);
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
  }

  function stopAll(signal: string): void {
    if (stopping) return;
    stopping = true;
    log({ event: "shutdown", signal, workers: live().length });
    for (const w of live()) if (w.isConnected()) w.send({ raas: "stop" } satisfies Message);
    const force = setTimeout(() => {
      for (const w of live()) w.process.kill("SIGKILL");
    }, STOP_DEADLINE_MS);
    force.unref();
  }

  cluster.on("exit", (worker, code, signal) => {
    listening.delete(worker);
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

  process.on("SIGHUP", () => {
    for (const w of live()) if (w.isConnected()) w.send({ raas: "reload" } satisfies Message);
  });
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
      process.send?.({ raas: "metrics-data", id: message.id, data: metrics.data() } satisfies Message);
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
      process.send?.({ raas: "metrics-request", id } satisfies Message);
    });
}

/** Connect a started worker's registry to the primary: announce it, and obey reload and stop. */
export function superviseWorker(registry: RunningRegistry, stop: (reason: string) => void): void {
  process.on("message", (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.raas === "reload") void registry.reload();
    else if (message.raas === "stop") stop("primary");
  });
  process.send?.({ raas: "listening", url: registry.url } satisfies Message);
}
