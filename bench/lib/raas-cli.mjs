// Runs the built CLI (bin/raas.js) for benchmarks, under /usr/bin/time so peak RSS is known,
// and counts the S3 calls it made from its `--log debug` lines ("debug: S3 <Operation> ...").
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

// Extra node flags for the raas processes, e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof".
export const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");

/**
 * Run `raas <args>` (of the checkout at `from`, by default this one); returns seconds, peak RSS
 * in bytes, S3 calls by operation, and the output.
 */
export function raas(args, { cwd, env = {}, from = root }) {
  const t0 = process.hrtime.bigint();
  const run = spawnSync(
    "/usr/bin/time",
    [
      "-f",
      "RSS_KIB=%M CPU_S=%U+%S",
      process.execPath,
      ...nodeArgs,
      path.join(from, "bin", "raas.js"),
      ...args,
    ],
    { encoding: "utf8", cwd, env: { ...process.env, CI: "true", ...env }, maxBuffer: 256 << 20 },
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const s3Calls = {};
  for (const match of run.stderr.matchAll(/^debug: S3 (\w+)/gm)) {
    s3Calls[match[1]] = (s3Calls[match[1]] ?? 0) + 1;
  }
  return {
    status: run.status,
    stdout: run.stdout,
    stderr: run.stderr,
    seconds,
    rssBytes: Number(/RSS_KIB=(\d+)/.exec(run.stderr)?.[1] ?? NaN) * 1024,
    cpuSeconds: cpuOf(run.stderr),
    s3Calls,
  };
}

/** User + system CPU seconds from `/usr/bin/time -f "... CPU_S=%U+%S"` (NaN when absent). */
export function cpuOf(stderr) {
  const match = /CPU_S=([\d.]+)\+([\d.]+)/.exec(stderr);
  return match === null ? NaN : Number(match[1]) + Number(match[2]);
}

export function mustSucceed(what, run) {
  if (run.status !== 0) {
    throw new Error(`${what} failed (${run.status}):\n${run.stdout}\n${run.stderr.slice(-4000)}`);
  }
  return run;
}

/** The environment of a raas run whose home (and git identity) is inside the bench's work directory. */
export function benchEnv(work) {
  return {
    HOME: path.join(work, "home"),
    RAAS_HOME: path.join(work, "home", "raas"),
    // Plain HTTP, as the older checkouts these runs are compared with (HTTPS became the default later).
    RAAS_TLS: "off",
    GIT_AUTHOR_NAME: "bench",
    GIT_AUTHOR_EMAIL: "bench@raas.invalid",
    GIT_COMMITTER_NAME: "bench",
    GIT_COMMITTER_EMAIL: "bench@raas.invalid",
  };
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const mib = (n) => n / 1024 / 1024;
