import cluster from "node:cluster";
import { parseArgs } from "node:util";
import { errorMessage, UserError } from "../errors.js";
import { runPrimary, superviseWorker, workerMetrics, workerNotify, workerReload } from "./cluster.js";
import { loadServerConfig } from "./config.js";
import { lineLog } from "./log-lines.js";
import { Metrics } from "./metrics.js";
import { startRegistryServer, type StartOptions } from "./start.js";
import { workerCount } from "./workers.js";

/**
 * Process entry of the registry app: `node --no-memory-reducer dist/server-bundle/main.js --config
 * registry.conf` (SERVER_NODE_FLAGS in workers.ts says why the flag).
 * One JSON line per request on stdout; SIGHUP reloads the metadata; SIGTERM and SIGINT stop
 * accepting connections and exit once the requests in flight are done. With more than one
 * worker (`[raas] workers`, RAAS_WORKERS; default one per usable CPU) this process is the
 * primary of a cluster and every worker runs the same code (cluster.ts).
 */
// The AWS SDK (loaded only for presigned redirects) warns about future Node support on Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

// A worker's lines carry its pid, so an operator can tell the workers apart.
const out = lineLog((text) => process.stdout.write(text), cluster.isWorker ? { worker: process.pid } : {});

function startOptions(): StartOptions {
  const { values } = parseArgs({
    options: { config: { type: "string", short: "c" }, host: { type: "string" }, port: { type: "string" } },
  });
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new UserError(`invalid --port ${values.port}`);
  }
  return {
    ...(values.config === undefined ? {} : { configPath: values.config }),
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(port === undefined ? {} : { port }),
    log: (record) => out.log(record),
    accessLog: (record) => out.request(record),
  };
}

/** One server in this process: the single-worker mode, and each worker of a cluster. */
async function serve(options: StartOptions): Promise<void> {
  const metrics = new Metrics();
  const registry = await startRegistryServer({
    ...options,
    metrics,
    coordinated: cluster.isWorker,
    ...(cluster.isWorker
      ? { renderMetrics: workerMetrics(metrics), afterCommit: workerReload(), notify: workerNotify() }
      : {}),
  });
  let stopping = false;
  /** A worker ends by leaving the primary, which then sees it exit; one whose primary is gone exits. */
  const end = () => {
    if (!cluster.isWorker) return;
    if (process.connected) process.disconnect();
    else process.exit();
  };
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    out.log({ event: "shutdown", signal });
    registry.close().then(
      () => {
        out.flush();
        process.exitCode = 0;
        end();
      },
      (err: unknown) => {
        out.log({ event: "shutdown", level: "error", message: errorMessage(err) });
        out.flush();
        process.exitCode = 1;
        end();
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  if (cluster.isWorker) {
    superviseWorker(registry, stop);
    // The primary gone without stopping its workers (SIGKILL, out of memory): node:cluster would
    // end this worker at once, cutting its downloads and losing the pull events and statistics
    // it has not stored yet. It drains instead, as on SIGTERM, stores them, and exits.
    const worker = cluster.worker;
    worker?.once("disconnect", () => {
      if (stopping) return;
      // Read by node:cluster right after this event: set, it does not exit the process.
      worker.exitedAfterDisconnect = true;
      stop("primary gone");
    });
    return;
  }
  out.log({ event: "listening", url: registry.url });
  process.on("SIGHUP", () => void registry.reload());
}

async function main(): Promise<void> {
  const options = startOptions();
  if (cluster.isWorker) return serve(options);
  const config = await loadServerConfig(options.configPath, process.env);
  const workers = await workerCount(config.workers, process.env);
  if (workers <= 1) return serve(options);
  await runPrimary(workers, out, config);
}

main().catch((err: unknown) => {
  out.flush();
  const hint = err instanceof UserError && err.hint !== undefined ? ` (${err.hint})` : "";
  console.error(`raas registry: ${errorMessage(err)}${hint}`);
  process.exitCode = err instanceof UserError ? err.exitCode : 1;
  // A worker that cannot start must end, so the primary sees it (the IPC channel keeps it alive).
  if (cluster.isWorker) process.disconnect();
});
