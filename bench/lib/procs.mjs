// Process helpers for benchmarks: free loopback ports, background processes whose output goes
// to files (so a chatty access log never back-pressures a pipe), readiness polling, wrk runs.
import { spawn, spawnSync } from "node:child_process";
import { openSync } from "node:fs";
import path from "node:path";
import { createServer } from "node:net";

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

/** Arguments that run the shipped registry bundle on a loopback port with `conf` (after `npm run build`). */
export function serverBundleArgs(root, conf, port) {
  return [
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

/** One wrk run; returns requests/s, p99 in ms, and the status-code sanity counters. */
export function wrk(url, { connections = 64, seconds = 10, threads = 2, headers = {} } = {}) {
  const args = ["-t", String(threads), "-c", String(connections), "-d", `${seconds}s`, "--latency"];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  const run = spawnSync("wrk", [...args, url], { encoding: "utf8", timeout: (seconds + 30) * 1000 });
  if (run.status !== 0) throw new Error(`wrk failed: ${run.stderr || run.stdout}`);
  const out = run.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p99 = /99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const errors = /Socket errors:[^\n]*/.exec(out)?.[0] ?? "";
  if (!Number.isFinite(rps) || p99 == null) throw new Error(`cannot read wrk output:\n${out}`);
  return { rps, p99ms: Number(p99[1]) * UNIT[p99[2]], non2xx, errors };
}
