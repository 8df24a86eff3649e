/**
 * How many worker processes the registry runs: `[raas] workers` (or RAAS_WORKERS), a number or
 * `auto`. `auto` is the CPUs this process may use: the CPUs it may be scheduled on
 * (os.availableParallelism follows the affinity mask and cpusets) capped by the CPU limit of its
 * cgroup, rounded up, so a pod limited to one CPU runs one worker and 1.5 CPUs run two.
 * Kubernetes and OpenShift set that limit as the CFS quota: `cpu.max` on cgroup v2,
 * `cpu.cfs_quota_us` / `cpu.cfs_period_us` on v1. A memory limit caps `auto` too (autoWorkers).
 */
import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import * as path from "node:path";
import { UserError } from "../errors.js";

/** More than this is a typo, not a machine. */
export const MAX_WORKERS = 256;

async function readText(file: string): Promise<string | undefined> {
  return readFile(file, "utf8").then(
    (text) => text.trim(),
    () => undefined,
  );
}

/** quota / period as CPUs, or undefined when there is no limit or the numbers make no sense. */
function cpus(quota: number, period: number): number | undefined {
  return Number.isFinite(quota) && Number.isFinite(period) && quota > 0 && period > 0
    ? quota / period
    : undefined;
}

/** This process's cgroup: its v2 group ("0::/path") and its v1 group of a controller. */
async function cgroupMembership(procSelfCgroup: string | undefined) {
  const text = procSelfCgroup ?? (await readText("/proc/self/cgroup")) ?? "";
  const lines = text.split("\n").map((line) => line.split(":"));
  return {
    v2: lines.find((parts) => parts[0] === "0" && parts[1] === "")?.[2],
    v1: (controller: string) => lines.find((parts) => (parts[1] ?? "").split(",").includes(controller))?.[2],
  };
}

/** A v2 group and every level above it up to the root: each may set a limit. */
function* v2Levels(group: string): Generator<string> {
  for (let dir = group; ; dir = path.posix.dirname(dir)) {
    yield dir;
    if (dir === "/" || dir === "." || dir === "") return;
  }
}

/** A v1 group and the root of its hierarchy. */
const v1Levels = (group: string) => (group === "/" ? ["/"] : [group, "/"]);

/**
 * The CPU limit of this process's cgroup, in CPUs (fractions possible), or undefined if none.
 * `root` is where the cgroup file systems are mounted; `procSelfCgroup` the text of
 * /proc/self/cgroup (both replaceable for tests). In a container the cgroup namespace makes the
 * own group the root; outside one, the own group's path is looked up.
 */
export async function cgroupCpuLimit(
  root = "/sys/fs/cgroup",
  procSelfCgroup?: string,
): Promise<number | undefined> {
  const { v2, v1 } = await cgroupMembership(procSelfCgroup);
  const limits: number[] = [];
  // cgroup v2: "0::/path".
  for (const dir of v2 === undefined ? [] : v2Levels(v2)) {
    const max = await readText(path.join(root, dir, "cpu.max"));
    const [quota = "max", period = "100000"] = (max ?? "max").split(/\s+/);
    const limit = quota === "max" ? undefined : cpus(Number(quota), Number(period));
    if (limit !== undefined) limits.push(limit);
  }
  // cgroup v1: "N:cpu,cpuacct:/path" with the controller mounted at <root>/cpu (or cpu,cpuacct).
  const group = v1("cpu");
  if (group !== undefined) {
    for (const mount of ["cpu", "cpu,cpuacct", "cpuacct,cpu"]) {
      for (const dir of v1Levels(group)) {
        const quota = await readText(path.join(root, mount, dir, "cpu.cfs_quota_us"));
        const period = await readText(path.join(root, mount, dir, "cpu.cfs_period_us"));
        if (quota === undefined || period === undefined) continue;
        const limit = cpus(Number(quota), Number(period));
        if (limit !== undefined) limits.push(limit);
      }
    }
  }
  return limits.length === 0 ? undefined : Math.min(...limits);
}

/** cgroup v1 reports "no limit" as a number near 2^63. */
const NO_MEMORY_LIMIT = 2 ** 60;

/**
 * The memory limit of this process's cgroup in bytes, or undefined if none: `memory.max` on
 * cgroup v2 (every level up to the root may limit), `memory.limit_in_bytes` on v1. Kubernetes and
 * OpenShift set it from the container's `resources.limits.memory`.
 */
export async function cgroupMemoryLimit(
  root = "/sys/fs/cgroup",
  procSelfCgroup?: string,
): Promise<number | undefined> {
  const { v2, v1 } = await cgroupMembership(procSelfCgroup);
  const group = v1("memory");
  const files = [
    ...(v2 === undefined ? [] : [...v2Levels(v2)].map((dir) => path.join(root, dir, "memory.max"))),
    ...(group === undefined
      ? []
      : v1Levels(group).map((dir) => path.join(root, "memory", dir, "memory.limit_in_bytes"))),
  ];
  const limits: number[] = [];
  for (const file of files) {
    const text = await readText(file);
    const n = Number(text);
    if (text !== undefined && /^\d+$/.test(text) && n > 0 && n < NO_MEMORY_LIMIT) limits.push(n);
  }
  return limits.length === 0 ? undefined : Math.min(...limits);
}

/**
 * What `workers = auto` plans per process under a memory limit (docs/server.md, "Workers"): the
 * cluster primary, and each worker (its heap with small metadata and the 32 MiB young
 * generation it starts with). Larger metadata needs more per worker: set `workers` then.
 */
export const PRIMARY_MEMORY_MIB = 64;
export const WORKER_MEMORY_MIB = 96;

/** How many workers fit a memory limit (bytes): at least 1; undefined when there is no limit. */
export function workersForMemory(limit: number | undefined): number | undefined {
  if (limit === undefined) return undefined;
  const mib = limit / (1024 * 1024);
  return Math.max(1, Math.floor((mib - PRIMARY_MEMORY_MIB) / WORKER_MEMORY_MIB));
}

/**
 * `workers = auto`: one per usable CPU, but no more than fit the memory limit, so a pod limited
 * to 256 MiB on a 32-CPU node (no CPU limit) runs two workers, not 32 it would be killed for.
 */
export async function autoWorkers(
  cpus: Promise<number> = usableCpus(),
  memoryLimit: Promise<number | undefined> = cgroupMemoryLimit(),
): Promise<number> {
  const byMemory = workersForMemory(await memoryLimit);
  const n = await cpus;
  return byMemory === undefined ? n : Math.min(n, byMemory);
}

/** The CPUs this process may use, whole: at least 1. */
export async function usableCpus(
  limit: Promise<number | undefined> = cgroupCpuLimit(),
  parallelism = availableParallelism(),
): Promise<number> {
  const quota = await limit;
  const n = quota === undefined ? parallelism : Math.min(parallelism, Math.ceil(quota));
  return Math.max(1, n);
}

/**
 * Parse a `workers` setting: `auto` (or empty) or a whole number 1..MAX_WORKERS. `where` names
 * the setting in the error.
 */
export function parseWorkers(value: string, where: string): number | "auto" {
  const text = value.trim().toLowerCase();
  if (text === "" || text === "auto") return "auto";
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > MAX_WORKERS) {
    throw new UserError(
      `${where} must be "auto" or a whole number from 1 to ${MAX_WORKERS}, not "${value}"`,
      {
        hint: "Use workers = auto to run one worker per CPU the server may use.",
      },
    );
  }
  return n;
}

/** The worker count to run: RAAS_WORKERS over the config's `workers`, `auto` resolved. */
export async function workerCount(
  configured: number | "auto",
  env: NodeJS.ProcessEnv,
  cpusFn: () => Promise<number> = () => autoWorkers(),
): Promise<number> {
  const fromEnv = env.RAAS_WORKERS;
  const setting =
    fromEnv !== undefined && fromEnv !== "" ? parseWorkers(fromEnv, "RAAS_WORKERS") : configured;
  return setting === "auto" ? cpusFn() : setting;
}

/**
 * Node arguments the registry server itself is started with, before the bundle's path: every
 * launch line raas writes has them (the app's Containerfile and `npm start`, the local
 * platform's server; serverArgs in app/server-runtime.ts), so a server of one process has
 * them too, and a cluster's workers get them with WORKER_V8_FLAGS. V8 reads them when the
 * process starts; set later (v8.setFlagsFromString) they made no difference.
 * - `--no-memory-reducer`: V8's memory reducer runs full garbage collections once a process
 *   turns idle, to give memory back, and a registry is idle after it starts and between bursts.
 *   A server that had sat idle for 30 s after starting then needed about a fifth more CPU per
 *   manifest GET than one started with this flag, for as long as it ran (bench/README.md,
 *   "Idle, then busy"). Its profile showed where: Node's own process.nextTick, which node:http
 *   and its streams call several times per request, built its queue entry through V8's runtime
 *   (Runtime_DefineKeyedOwnPropertyInLiteral) on every call instead of in optimized code. A
 *   server loaded within seconds of starting did not show it, nor did one with this flag.
 *   The cost: a worker keeps the heap it grew under load, about 5 MiB per worker after a burst.
 */
export const SERVER_NODE_FLAGS = ["--no-memory-reducer"] as const;

/**
 * V8 settings every worker starts with (docs/server.md, "Workers"; measured in bench/README.md,
 * "Latency tail"):
 * - `--min-semi-space-size=16`: the young generation starts at 16 MiB per semi-space, V8's own
 *   maximum on 64-bit, instead of 1 MiB. A request leaves almost nothing alive, so V8 barely grew
 *   it (about 3 MiB between scavenges): a loaded worker ran about 75 scavenges a second (one per ~270 requests), each a pause of
 *   about 0.5 ms for every request in flight; at 16 MiB, one per ~1,250 requests.
 * - `--no-parallel-scavenge`: a scavenge runs on the worker's own thread. With one worker per
 *   CPU there is no idle core for V8's helper threads under load, and a scavenge that waited for
 *   a descheduled helper lasted 4-8 ms on a quiet machine (up to 69 ms on a loaded one).
 * - SERVER_NODE_FLAGS (above).
 * The cost: up to 32 MiB more resident memory per worker (the two semi-spaces).
 */
export const WORKER_V8_FLAGS = [
  "--min-semi-space-size=16",
  "--no-parallel-scavenge",
  ...SERVER_NODE_FLAGS,
] as const;

/** The flags of one family: an operator's value for any of them replaces raas's. */
const FAMILIES = [
  ["min-semi-space-size", "max-semi-space-size", "semi-space-growth-factor"],
  ["parallel-scavenge", "single-threaded-gc", "single-threaded"],
  ["memory-reducer"],
];

/** `--no-foo_bar=1` -> `foo-bar`. */
const flagName = (arg: string) =>
  arg.replace(/^--?/, "").replace(/=.*$/s, "").replace(/_/g, "-").replace(/^no-/, "");

/**
 * The Node arguments a worker is forked with: WORKER_V8_FLAGS, except those whose family the
 * operator already set on the primary's command line (`execArgv`) or in NODE_OPTIONS (where
 * Node accepts only --max-semi-space-size of them), then the primary's own arguments.
 */
export function workerExecArgv(execArgv: readonly string[], nodeOptions = ""): string[] {
  const given = new Set(
    [...execArgv, ...nodeOptions.split(/\s+/)].filter((a) => a.startsWith("-")).map(flagName),
  );
  const ours = WORKER_V8_FLAGS.filter((flag) => {
    const family = FAMILIES.find((names) => names.includes(flagName(flag))) ?? [flagName(flag)];
    return !family.some((name) => given.has(name));
  });
  return [...ours, ...execArgv];
}
