/**
 * The registry server process with the write API on, as the push-API end-to-end tests run it:
 * an app repository deployed as the local platform deploys it, a registry.conf with `[push]`
 * (loopback without credentials), the bundled server on a port the OS picks (its `listening`
 * line gives the URL) with its JSON log lines kept, and an events collector to point it at.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:http";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { RegistryEvent } from "../../src/events/envelope.js";
import { deployedAppRemote } from "./git.js";
import { MAIN } from "./server-process.js";

export interface RegistryProcess {
  proc: ChildProcess;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `127.0.0.1:<port>`, as skopeo and podman name it. */
  host: string;
  /** Every JSON line the server wrote to stdout, in order (each worker's carry its pid as `worker`). */
  records: Record<string, unknown>[];
  stderr(): string;
  /** Send `signal` (to the whole process group when started detached); resolves once it exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /**
   * SIGTERM, then wait for the exit (SIGKILL after 30 s): a stopping server still writes its
   * last statistics and events to storage, which would race a test's removal of that storage.
   */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Variables added to the test's environment; with `inheritEnv: false`, to PATH alone. */
  env?: Record<string, string>;
  inheritEnv?: boolean;
  /** In a process group of its own, so that killing it kills its primary and workers at once. */
  detached?: boolean;
}

const exited = (proc: ChildProcess) => proc.exitCode !== null || proc.signalCode !== null;

/** The bundled server (dist/server-bundle/main.js) from `conf` on loopback, once it listens. */
export async function startRegistryProcess(
  conf: string,
  options: StartOptions = {},
): Promise<RegistryProcess> {
  const base = options.inheritEnv === false ? { PATH: process.env.PATH ?? "" } : process.env;
  const proc = spawn(process.execPath, [MAIN, "--config", conf, "--host", "127.0.0.1", "--port", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...base, ...options.env },
    detached: options.detached === true,
  });
  const records: Record<string, unknown>[] = [];
  let stderr = "";
  proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: proc.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    proc.once("exit", (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
    lines.on("line", (line) => {
      if (!line.startsWith("{")) return;
      const record = JSON.parse(line) as Record<string, unknown>;
      records.push(record);
      if (record.event === "listening" && typeof record.url === "string") resolve(record.url);
    });
  });
  const kill = async (signal: NodeJS.Signals) => {
    if (exited(proc) || proc.pid === undefined) return;
    const done = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    try {
      process.kill(options.detached === true ? -proc.pid : proc.pid, signal);
    } catch {
      return; // already gone
    }
    await done;
  };
  return {
    proc,
    url,
    host: url.replace(/^http:\/\//, ""),
    records,
    stderr: () => stderr,
    kill,
    stop: async () => {
      const timer = setTimeout(() => void kill("SIGKILL"), 30_000);
      await kill("SIGTERM");
      clearTimeout(timer);
    },
  };
}

export interface PushApiRepo {
  /** The bare app repository the write API commits to. */
  remote: string;
  /** Its checkout, updated on every push, that a registry not following git reads. */
  deploy: string;
  /**
   * Local storage: the directory `serve_content` serves v1 and v2 from, as `raas setup` writes
   * it for local storage (`<state_dir>/<isv>/storage`, where `raas push` writes).
   */
  store: string;
}

/** The app repository and local storage (`<root>/store`) of a push-API test, under `root`. */
export async function pushApiRepo(root: string): Promise<PushApiRepo> {
  const store = join(root, "store");
  await mkdir(store, { recursive: true });
  return { ...(await deployedAppRemote(root)), store };
}

export interface PushApiConf {
  root: string;
  repo: PushApiRepo;
  workers: number;
  /** Names the config file (`<name>.conf`) and the folders that are this server's own. */
  name?: string;
  /** Follow the app repository ([metadata] follow) instead of reading the deploy checkout. */
  followInterval?: number;
  /** Lines replacing the local `[serve_content]` section (an S3 `[storage]` section). */
  storage?: string[];
  /** More lines in `[raas]` and in `[push]`. */
  raas?: string[];
  push?: string[];
  /** Further sections, as lines. */
  sections?: string[];
}

/** Write `<root>/<name>.conf` for a push-API server (isv acme); returns its path. */
export async function writePushApiConf(options: PushApiConf): Promise<string> {
  const { root, repo } = options;
  const name = options.name ?? "registry";
  const follow = options.followInterval !== undefined;
  const conf = join(root, `${name}.conf`);
  const lines = [
    "[general]",
    ...(follow
      ? // Never read in follow mode: the metadata comes from the followed repository.
        [`data_dir = ${root}/nowhere/data`]
      : [`data_dir = ${repo.deploy}/data`, "data_dir_polling_interval = 0.5"]),
    ...(options.storage ?? [
      "[serve_content]",
      "enable = true",
      `content_dir_v1 = ${repo.store}`,
      `content_dir_v2 = ${repo.store}`,
      "use_x_sendfile = false",
    ]),
    "[raas]",
    ...(follow ? [] : [`manifest_dir = ${repo.deploy}/manifests`]),
    "isv = acme",
    `workers = ${options.workers}`,
    ...(options.raas ?? []),
    ...(follow
      ? [
          "[metadata]",
          `follow = ${repo.remote}`,
          `follow_interval = ${options.followInterval}`,
          `follow_dir = ${root}/${name}-follow`,
        ]
      : []),
    "[push]",
    "enable = true",
    "unauthenticated_loopback = true",
    `app_remote = ${repo.remote}`,
    `clone_dir = ${root}/${name}-clones`,
    ...(options.push ?? []),
    ...(options.sections ?? []),
    "",
  ];
  await writeFile(conf, lines.join("\n"));
  return conf;
}

/** Write the config of `options` and start a server from it. */
export async function startPushApiServer(
  options: PushApiConf & StartOptions,
): Promise<RegistryProcess & { conf: string }> {
  const conf = await writePushApiConf(options);
  return { ...(await startRegistryProcess(conf, options)), conf };
}

export interface Collector {
  /** The URL to name in `[events.<name>] url`. */
  url: string;
  /** Every event delivered, in order of arrival. */
  received: RegistryEvent[];
  close(): Promise<void>;
}

/** An events endpoint on loopback that takes every delivery (200) and keeps its events. */
export async function startCollector(): Promise<Collector> {
  const received: RegistryEvent[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { events: RegistryEvent[] };
      received.push(...body.events);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface EnvironmentRegistries<E extends string> {
  /** The working folder: each environment's config is `<work>/<env>.conf`. */
  work: string;
  /** RAAS_HOME of the `raas setup` run. */
  raasHome: string;
  isv: string;
  envs: readonly E[];
  /** More of the file after `[push]` (a `[stats]` section). */
  extra?: string;
  /** The servers' environment besides PATH and `RAAS_WORKERS=1` (storage credentials). */
  env?: Record<string, string>;
}

/**
 * For each environment `raas setup` set up, a registry started from the registry.conf setup
 * wrote plus `[push]`, as an operator adds it (docs/push-api.md), one environment after the other.
 */
export async function startEnvironmentRegistries<E extends string>(
  options: EnvironmentRegistries<E>,
  started: Partial<Record<E, RegistryProcess>>,
): Promise<void> {
  const { work, raasHome, isv } = options;
  for (const e of options.envs) {
    const dir = join(raasHome, `${isv}.${e}`);
    const conf = join(work, `${e}.conf`);
    const written = await readFile(join(dir, "deploy", "registry.conf"), "utf8");
    await writeFile(
      conf,
      `${written}\n[push]\nenable = true\nunauthenticated_loopback = true\napp_remote = ${join(dir, "app.git")}\nclone_dir = ${join(work, `clones-${e}`)}\n${options.extra ?? ""}`,
    );
    started[e] = await startRegistryProcess(conf, {
      inheritEnv: false,
      env: { RAAS_WORKERS: "1", ...options.env },
    });
  }
}
