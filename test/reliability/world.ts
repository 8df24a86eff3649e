/**
 * The setting of the reliability tests: a temp work directory, s3rver on loopback behind the
 * fault proxy, a raas.cfg pointing at the proxy, and the real CLI binary (`node bin/raas.js`,
 * built by `npm run build`) run as separate processes, the way CI runs it. `stop()` kills the
 * background registry server, the proxy and s3rver and removes every file.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { cliEnv, stopBackgroundServer } from "../helpers/cli.js";
import { freePort } from "../helpers/free-port.js";
import { startFaultProxy, type FaultProxy, type FaultProxyOptions } from "../helpers/fault-proxy.js";
import { startS3rver, type RunningS3rver } from "../helpers/s3rver.js";

export const ROOT = resolve(import.meta.dirname, "..", "..");
export const BIN = join(ROOT, "bin", "raas.js");

export interface ProcessRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Spawned {
  child: ChildProcess;
  done: Promise<ProcessRun>;
  /** SIGKILL the whole process group: raas and every git it started, as a CI runner does. */
  kill(): void;
}

export interface World {
  work: string;
  env: NodeJS.ProcessEnv;
  s3: RunningS3rver;
  proxy: FaultProxy;
  isv: string;
  bucket: string;
  /** Start `raas <args>` in its own process group. */
  spawnRaas(args: string[], extraEnv?: Record<string, string>, cwd?: string): Spawned;
  raas(args: string[], extraEnv?: Record<string, string>): Promise<ProcessRun>;
  /** http://127.0.0.1:<port> of the ISV's registry (running after setup). */
  registryUrl: string;
  stateDir(): string;
  stop(): Promise<void>;
}

export interface WorldOptions {
  isv?: string;
  proxy?: Omit<FaultProxyOptions, "target">;
  /** Extra raas.cfg lines appended to the [<isv>] section. */
  extraConfig?: string[];
  /** Extra raas.cfg lines appended to the [s3] section (part_size, concurrency...). */
  s3Config?: string[];
  /** Override the [aws] credentials (the secrets test plants its own). */
  aws?: { accessKey: string; secretKey: string; sessionToken?: string };
}

export function assertBuilt(): void {
  if (!existsSync(join(ROOT, "dist", "cli", "main.js"))) {
    throw new Error("dist/ is missing: run `npm run build` before the reliability tests");
  }
}

export async function startWorld(options: WorldOptions = {}): Promise<World> {
  assertBuilt();
  const isv = options.isv ?? "rel";
  const bucket = `${isv}-images`;
  const work = await mkdtemp(join(tmpdir(), "raas-rel-"));
  const s3 = await startS3rver({ buckets: [bucket] });
  const proxy = await startFaultProxy({ target: s3.endpoint, ...options.proxy });
  // raas allocates registry ports by probing from 5000, which races when several test files run
  // setup at once; each world names its own port instead.
  const port = await freePort();
  // Killed runs leave their private app clones behind: keep them inside the work dir.
  const tmp = join(work, "tmp");
  await mkdir(tmp);
  const env = cliEnv(join(work, "home"), { TMPDIR: tmp });
  await writeFile(
    join(work, "raas.cfg"),
    [
      "[raas]",
      "storage = s3",
      "[s3]",
      `endpoint = ${proxy.endpoint}`,
      ...(options.s3Config ?? []),
      "[aws]",
      `aws_access_key = ${options.aws?.accessKey ?? s3.credentials.accessKeyId}`,
      `aws_secret_access_key = ${options.aws?.secretKey ?? s3.credentials.secretAccessKey}`,
      ...(options.aws?.sessionToken === undefined ? [] : [`aws_session_token = ${options.aws.sessionToken}`]),
      `[${isv}]`,
      `s3_bucket = ${bucket}`,
      `port = ${port}`,
      ...(options.extraConfig ?? []),
      "",
    ].join("\n"),
  );

  const spawnRaas = (args: string[], extraEnv: Record<string, string> = {}, cwd = work): Spawned => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...env, ...extraEnv },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (c: Buffer) => out.push(c));
    child.stderr?.on("data", (c: Buffer) => err.push(c));
    const done = new Promise<ProcessRun>((resolvePromise) => {
      child.on("close", (code, signal) =>
        resolvePromise({
          code,
          signal,
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8"),
        }),
      );
    });
    return {
      child,
      done,
      kill() {
        if (child.pid === undefined || child.exitCode !== null) return;
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      },
    };
  };

  const stateDir = () => join(work, "home", "raas", isv);
  return {
    work,
    env,
    s3,
    proxy,
    isv,
    bucket,
    spawnRaas,
    raas: (args, extraEnv) => spawnRaas(args, extraEnv).done,
    stateDir,
    registryUrl: `http://127.0.0.1:${port}`,
    async stop() {
      await stopBackgroundServer(join(work, "home", "raas"), isv);
      await proxy.stop();
      await s3.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}
