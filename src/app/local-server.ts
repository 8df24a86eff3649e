/**
 * The local platform's registry server:
 * `node --no-memory-reducer dist/server-bundle/main.js --config <deploy>/registry.conf`
 * running in the background, its pid in server.pid and its output in server.log.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { IsvSettings, LocalPlatformSettings } from "../config/types.js";
import { UserError } from "../errors.js";
import { commandLine, isAlive, spawnDetached } from "../adapters/exec.js";
import { packageRoot } from "../adapters/package-root.js";
import { pingProblem } from "./ping.js";
import { trustFor } from "./registry-http.js";
import { serverArgs, serverEntry } from "./server-runtime.js";

export interface LocalServerStatus {
  running: boolean;
  pid: number | undefined;
  url: string;
  /** Why it is not running, when it is not. */
  problem?: string;
}

function platformOf(settings: IsvSettings): LocalPlatformSettings {
  if (settings.platform.kind !== "local") throw new Error(`${settings.isv} is not on the local platform`);
  return settings.platform;
}

function configFile(platform: LocalPlatformSettings): string {
  return path.join(platform.deployDir, "registry.conf");
}

async function readPid(file: string): Promise<number | undefined> {
  const text = await readFile(file, "utf8").catch(() => "");
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * The recorded pid, if that process is alive and is our server (where the OS lets us check its
 * command line), so a recycled pid never gets signalled.
 */
async function ourPid(platform: LocalPlatformSettings): Promise<number | undefined> {
  const pid = await readPid(platform.pidFile);
  if (pid === undefined || !isAlive(pid)) return undefined;
  const argv = await commandLine(pid);
  return argv === undefined || argv.includes(configFile(platform)) ? pid : undefined;
}

export async function localServerStatus(settings: IsvSettings): Promise<LocalServerStatus> {
  const platform = platformOf(settings);
  const url = `${settings.tls === undefined ? "http" : "https"}://${platform.host}:${platform.port}`;
  const pid = await ourPid(platform);
  if (pid === undefined) return { running: false, pid: undefined, url, problem: "no server process" };
  const problem = await pingProblem(url, 2000, undefined, (await trustFor(settings)).fetch);
  return problem === undefined ? { running: true, pid, url } : { running: false, pid, url, problem };
}

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

/** Passed to the server whatever the storage: nothing secret, and what a process may need to run. */
const BASE_ENV = ["PATH", "LANG", "LC_ALL", "TZ", "RAAS_WORKERS"];
/** What the AWS SDK's default credential chain reads, for presigning without configured keys. */
const AWS_CHAIN_ENV = [
  "HOME",
  "AWS_PROFILE",
  "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_CONFIG_FILE",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_ROLE_ARN",
  "AWS_ROLE_SESSION_NAME",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN",
  "AWS_EC2_METADATA_DISABLED",
];

/**
 * The registry server's environment: only what it needs, never raas's whole environment (which
 * may hold S3 keys, a session token, an OpenShift token). Storage credentials only for S3 (the
 * server presigns URLs, and writes pull statistics and events to the bucket; local storage
 * needs none): the configured keys, or, when none are configured, the variables of the AWS
 * SDK's credential chain. The variables event endpoint headers name (`${VAR}`, docs/events.md).
 * PORT is not passed: the server would prefer it over registry.conf. `extra` (from the caller)
 * is added last.
 */
export function serverEnvironment(
  settings: IsvSettings,
  parent: NodeJS.ProcessEnv,
  extra: Record<string, string> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  const pass = (names: string[]) => {
    for (const name of names) {
      const value = parent[name];
      if (value !== undefined) env[name] = value;
    }
  };
  pass(BASE_ENV);
  const storage = settings.storage;
  for (const endpoint of settings.events ?? []) {
    pass(
      Object.values(endpoint.headers).flatMap((v) =>
        [...v.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1] ?? ""),
      ),
    );
  }
  if (storage.kind === "s3") {
    const credentials = storage.credentials;
    if (credentials === undefined) pass(AWS_CHAIN_ENV);
    else {
      env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
      env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
      if (credentials.sessionToken !== undefined) env.AWS_SESSION_TOKEN = credentials.sessionToken;
    }
  }
  return { ...env, ...extra };
}

export interface StartOptions {
  /** The server entry point; default <package root>/dist/server-bundle/main.js. */
  entry?: string;
  /** Extra environment for the server (storage credentials); never written to disk. */
  env?: Record<string, string>;
}

/**
 * Start the server unless it already runs and answers. A process of ours that is alive but not
 * answering is stopped and replaced. Returns the status right after starting (it may still be
 * coming up: follow with waitForPing).
 */
export async function startLocalServer(
  settings: IsvSettings,
  options: StartOptions = {},
): Promise<LocalServerStatus & { started: boolean }> {
  const platform = platformOf(settings);
  const status = await localServerStatus(settings);
  if (status.running) return { ...status, started: false };
  if (status.pid !== undefined) await stopLocalServer(settings);
  if (!(await portFree(platform.port, platform.host))) {
    throw new UserError(`port ${platform.port} on ${platform.host} is used by another program`, {
      hint: `Stop that program, or set port = <n> in the [${settings.isv}] section of raas.cfg.`,
      code: "PORT_IN_USE",
    });
  }
  const entry = options.entry ?? serverEntry(packageRoot());
  const env = serverEnvironment(settings, process.env, options.env);
  const pid = spawnDetached(process.execPath, serverArgs(entry, configFile(platform)), {
    cwd: platform.deployDir,
    env,
    logFile: platform.logFile,
  });
  await writeFile(platform.pidFile, `${pid}\n`);
  return { running: false, pid, url: status.url, started: true };
}

/** Stop our server: SIGTERM, then SIGKILL after `graceMs`. Returns the pid that was stopped. */
export async function stopLocalServer(settings: IsvSettings, graceMs = 5000): Promise<number | undefined> {
  const platform = platformOf(settings);
  const pid = await ourPid(platform);
  if (pid !== undefined) {
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(pid)) process.kill(pid, "SIGKILL");
  }
  await rm(platform.pidFile, { force: true });
  return pid;
}
