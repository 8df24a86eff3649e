import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { errorMessage } from "../errors.js";
import { createRegistryApp } from "./app.js";
import { loadServerConfig } from "./config.js";
import { emptySnapshot, loadSnapshot, sourcesFingerprint, type Snapshot } from "./snapshot.js";

/** One structured log record: a request, a reload, or a problem. */
export type LogRecord = Record<string, string | number | boolean>;

export interface StartOptions {
  configPath?: string;
  /** Overrides `[raas] listen`. */
  host?: string;
  /** Overrides `[raas] port` and PORT; 0 picks a free port. */
  port?: number;
  env?: NodeJS.ProcessEnv;
  log?: (record: LogRecord) => void;
}

export interface RunningRegistry {
  url: string;
  port: number;
  /** Stop accepting connections and wait for requests in flight. */
  close(): Promise<void>;
  /** Reload the metadata now, changed or not (SIGHUP). */
  reload(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 10_000;

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

  let snapshot: Snapshot = emptySnapshot();
  snapshot = await loadSnapshot(config, logLine);
  log({ event: "reload", files: snapshot.index.files.length, manifests: snapshot.manifests.size });

  let reloading: Promise<void> | undefined;
  const reload = (force: boolean): Promise<void> => {
    // One reload at a time; a poll that finds one running simply waits for it.
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

  const handler = createRegistryApp({ config, snapshot: () => snapshot, log: logLine });
  const server = createServer((req, res) => {
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      log({
        event: "request",
        method: req.method ?? "",
        path: (req.url ?? "").slice(0, 512),
        status: res.statusCode,
        ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
        bytes: Number(res.getHeader("Content-Length") ?? 0),
      });
    });
    handler(req, res);
  });
  const host = options.host ?? config.listen;
  const port = options.port ?? config.port;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const timer = setInterval(() => void reload(false), Math.max(config.pollingInterval, 0.05) * 1000);
  timer.unref();

  const address = server.address() as AddressInfo;
  const urlHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost === "0.0.0.0" ? "127.0.0.1" : urlHost}:${address.port}`,
    port: address.port,
    reload: () => reload(true),
    close: async () => {
      clearInterval(timer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      force.unref();
      await closed;
      clearTimeout(force);
      await reloading;
    },
  };
}
