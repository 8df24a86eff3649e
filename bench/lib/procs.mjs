// Process helpers for benchmarks: free loopback ports, background processes whose output goes
// to files (so a chatty access log never back-pressures a pipe), readiness polling, wrk runs.
import { spawn, spawnSync } from "node:child_process";
import { openSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { createServer } from "node:net";
import { fileURLToPath, pathToFileURL } from "node:url";

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The Node flags a built checkout's launch lines start its server with (SERVER_NODE_FLAGS in
 * src/server/workers.ts; none before they existed) and those its cluster workers get
 * (WORKER_V8_FLAGS), for this checkout and BENCH_COMPARE_ROOT's, read once from their dist/.
 */
async function nodeFlagsOf(root) {
  const workers = pathToFileURL(path.join(root, "dist", "server", "workers.js")).href;
  // A checkout from before these exports has none; a dist/ that fails to load is an error.
  const built = await import(workers).catch((err) => {
    if (err?.code === "ERR_MODULE_NOT_FOUND") return {};
    throw err;
  });
  return { server: [...(built.SERVER_NODE_FLAGS ?? [])], worker: [...(built.WORKER_V8_FLAGS ?? [])] };
}
const ownRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const flagsByRoot = new Map();
for (const root of new Set(
  [ownRoot, process.env.BENCH_COMPARE_ROOT].filter(Boolean).map((r) => path.resolve(r)),
)) {
  flagsByRoot.set(root, await nodeFlagsOf(root));
}

/** The V8 flags raas starts its cluster workers with (for a baseline given the same runtime). */
export function workerNodeFlags(root = ownRoot) {
  return flagsByRoot.get(path.resolve(root))?.worker ?? [];
}

/**
 * Arguments that run the shipped registry bundle on a loopback port with `conf` (after `npm run
 * build`), as the app's image runs it: the checkout's own Node flags, then `extraFlags` (after
 * them, so an experiment's flag wins over the checkout's), then the bundle.
 */
export function serverBundleArgs(root, conf, port, extraFlags = []) {
  return [
    ...(flagsByRoot.get(path.resolve(root))?.server ?? []),
    ...extraFlags,
    path.join(root, "dist", "server-bundle", "main.js"),
    "--config",
    conf,
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
  ];
}

/** Start a process with stdout/stderr appended to `logFile`; `stop()` sends SIGTERM and waits. */
export function startProcess(command, args, logFile, options = {}) {
  const fd = openSync(logFile, "a");
  const child = spawn(command, args, { stdio: ["ignore", fd, fd], ...options });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return {
    child,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Poll `url` until it answers `expect` (any status when omitted), or fail after `ms`. */
export async function waitFor(url, { ms = 15000, expect, what = url } = {}) {
  const deadline = Date.now() + ms;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { redirect: "manual" });
      await res.arrayBuffer();
      if (expect === undefined || res.status === expect) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up: ${last}`);
}

const UNIT = { us: 0.001, ms: 1, s: 1000 };

let ticksPerSecond;
/**
 * CPU time (user and system, in seconds) used so far by process `pid` and all its descendants
 * (a cluster's workers, nginx's worker processes), from /proc; undefined where there is no /proc.
 */
export function cpuSeconds(pid) {
  ticksPerSecond ??= Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
  const parents = new Map();
  let entries;
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const stats = new Map();
  for (const name of entries) {
    try {
      // The fields after the command name, which may itself hold spaces and parentheses.
      const text = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      const id = Number(name);
      parents.set(id, Number(fields[1]));
      stats.set(id, { user: Number(fields[11]), system: Number(fields[12]) });
    } catch {
      // The process ended while the list was read.
    }
  }
  const inTree = (id) => {
    for (let at = id; at > 1; at = parents.get(at) ?? 0) if (at === pid) return true;
    return false;
  };
  let user = 0;
  let system = 0;
  for (const [id, t] of stats) {
    if (!inTree(id)) continue;
    user += t.user;
    system += t.system;
  }
  return { user: user / ticksPerSecond, system: system / ticksPerSecond };
}

/**
 * One wrk run; returns requests/s, p99 in ms, and the status-code sanity counters. With `pid`,
 * also the CPU time that process tree spent per request (user and system, microseconds): on a
 * shared machine this moves far less with the load than requests per second do.
 */
export function wrk(url, { connections = 64, seconds = 10, threads = 2, headers = {}, pid } = {}) {
  const args = ["-t", String(threads), "-c", String(connections), "-d", `${seconds}s`, "--latency"];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  const before = pid === undefined ? undefined : cpuSeconds(pid);
  const run = spawnSync("wrk", [...args, url], { encoding: "utf8", timeout: (seconds + 30) * 1000 });
  const after = pid === undefined ? undefined : cpuSeconds(pid);
  if (run.status !== 0) throw new Error(`wrk failed: ${run.stderr || run.stdout}`);
  const out = run.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p99 = /99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const errors = /Socket errors:[^\n]*/.exec(out)?.[0] ?? "";
  if (!Number.isFinite(rps) || p99 == null) throw new Error(`cannot read wrk output:\n${out}`);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const perRequest = (a, b) => ((b - a) * 1e6) / requests;
  const cpu =
    before === undefined || after === undefined || !(requests > 0)
      ? undefined
      : { userUs: perRequest(before.user, after.user), systemUs: perRequest(before.system, after.system) };
  return { rps, p99ms: Number(p99[1]) * UNIT[p99[2]], non2xx, errors, ...(cpu === undefined ? {} : { cpu }) };
}
