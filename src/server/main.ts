import { parseArgs } from "node:util";
import { errorMessage, UserError } from "../errors.js";
import { startRegistryServer, type LogRecord } from "./start.js";

/**
 * Process entry of the registry app: `node dist/server-bundle/main.js --config registry.conf`.
 * One JSON line per request on stdout; SIGHUP reloads the metadata; SIGTERM and SIGINT stop
 * accepting connections and exit once the requests in flight are done.
 */
// The AWS SDK (loaded only for presigned redirects) warns about future Node support on Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

let pending: string[] = [];
let flushScheduled = false;

function flushLog(): void {
  flushScheduled = false;
  if (pending.length === 0) return;
  const text = pending.join("");
  pending = [];
  process.stdout.write(text);
}

/**
 * Lines are gathered and written once per event-loop turn: under load that is one write for
 * dozens of requests instead of one synchronous write each, and the order is kept.
 */
function logRecord(record: LogRecord): void {
  pending.push(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
  if (pending.length >= 256) flushLog();
  else if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushLog);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: "string", short: "c" }, host: { type: "string" }, port: { type: "string" } },
  });
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new UserError(`invalid --port ${values.port}`);
  }
  const registry = await startRegistryServer({
    ...(values.config === undefined ? {} : { configPath: values.config }),
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(port === undefined ? {} : { port }),
    log: logRecord,
  });
  logRecord({ event: "listening", url: registry.url });
  process.on("SIGHUP", () => void registry.reload());
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logRecord({ event: "shutdown", signal });
    registry.close().then(
      () => {
        flushLog();
        process.exitCode = 0;
      },
      (err: unknown) => {
        logRecord({ event: "shutdown", level: "error", message: errorMessage(err) });
        process.exitCode = 1;
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err: unknown) => {
  const hint = err instanceof UserError && err.hint !== undefined ? ` (${err.hint})` : "";
  console.error(`raas registry: ${errorMessage(err)}${hint}`);
  process.exitCode = err instanceof UserError ? err.exitCode : 1;
});
