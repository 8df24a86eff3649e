// Benchmark: where the registry server's latency tail comes from. The same workload as
// bench/server.mjs (manifest GET by tag, or with BENCH_REQUEST=blob the blob GET raas answers
// with a redirect; wrk -t2, BENCH_CONNECTIONS connections, default 64),
// against raas with all its workers (RAAS_WORKERS, default auto), against
// BENCH_COMPARE_ROOT's raas (another built checkout) when given, and against nginx with
// `worker_processes auto` (the reference), alternated over BENCH_ROUNDS rounds (default 3),
// BENCH_SECONDS each (default 5); each figure is the median of its rounds. With BENCH_IDLE=<s>
// every server first sits idle that long once started (and answered one request), as a deployed
// one does before its first clients. Each raas is started with its own checkout's Node flags, as
// its image starts it (bench/lib/procs.mjs); BENCH_NODE_FLAGS come after them, so they win.
// Per target and run:
//  * wrk's latency percentiles, and the CPU wrk itself used per request;
//  * the server's CPU per request from the scheduler's own accounting (/proc/<pid>/task/*/
//    schedstat, nanoseconds), split into the event-loop threads, every other thread (V8's
//    GC and compiler helpers, libuv) and the cluster primary;
//  * how long the server's runnable threads waited for a core (schedstat's run-queue time) per
//    request, and involuntary context switches (preemptions) per 1,000 requests;
//  * read and write system calls per request (/proc/<pid>/io) and access-log bytes per request;
//  * the event-loop delay histogram of each worker (perf_hooks.monitorEventLoopDelay, 1 ms
//    resolution, loaded with --import bench/lib/loop-probe.mjs), worst worker shown;
//  * every GC (node --trace-gc-nvp, parsed from the server's log): scavenges per second, their
//    mean and longest pause, mark-compacts, bytes allocated and promoted per request.
// The probes cost the same in every raas target. The title states the machine, its load before
// and after, and the date. See bench/README.md ("Latency tail").
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  openSync,
  readSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runIfMain } from "./lib/report.mjs";
import { freePort, serverBundleArgs, startProcess, waitFor } from "./lib/procs.mjs";
import { writeRegistryApp } from "./lib/registry-app.mjs";
import { startNginx as startNginxAt } from "./lib/nginx.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const workers = process.env.RAAS_WORKERS ?? "auto";
const compareRoot = process.env.BENCH_COMPARE_ROOT;
/** Seconds every server sits idle once all have started and answered a first request, before the warm-up (default 0). */
const idleSeconds = Number(process.env.BENCH_IDLE ?? 0);
if (!(idleSeconds >= 0)) throw new Error(`BENCH_IDLE: seconds (0 or more), not ${process.env.BENCH_IDLE}`);
/** Extra Node/V8 flags for this checkout's raas only (experiments: GC settings and the like). */
const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? "").split(/\s+/).filter((f) => f !== "");
const S2 = "application/vnd.docker.distribution.manifest.v2+json";
/** `manifest` (default): manifest GET by tag; `blob`: blob GET, which raas answers with a 307 (nginx still serves the manifest file). */
const request = process.env.BENCH_REQUEST ?? "manifest";
if (request !== "manifest" && request !== "blob") {
  throw new Error(`BENCH_REQUEST: manifest or blob, not ${request}`);
}
const probe = pathToFileURL(path.join(here, "lib", "loop-probe.mjs")).href;

/** Every process in the tree rooted at `pid`. */
function treeOf(pid) {
  const parents = new Map();
  for (const name of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const text = readFileSync(`/proc/${name}/stat`, "utf8");
      parents.set(Number(name), Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // ended while listed
    }
  }
  const inTree = (id) => {
    for (let at = id; at > 1; at = parents.get(at) ?? 0) if (at === pid) return true;
    return false;
  };
  return [...parents.keys()].filter(inTree);
}

const readOr = (file, fallback = "") => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
};

/** Scheduler and I/O counters of every thread of every process in the tree. */
function sample(rootPid) {
  const out = {
    loop: 0,
    other: 0,
    primary: 0,
    wait: 0,
    preempted: 0,
    syscr: 0,
    syscw: 0,
    rssKiB: 0,
    pids: [],
  };
  const tree = treeOf(rootPid);
  for (const pid of tree) {
    out.pids.push(pid);
    const io = readOr(`/proc/${pid}/io`);
    out.syscr += Number(/^syscr:\s*(\d+)/m.exec(io)?.[1] ?? 0);
    out.syscw += Number(/^syscw:\s*(\d+)/m.exec(io)?.[1] ?? 0);
    out.rssKiB += Number(/^VmRSS:\s*(\d+)/m.exec(readOr(`/proc/${pid}/status`))?.[1] ?? 0);
    let tids = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const [run = 0, wait = 0] = readOr(`/proc/${pid}/task/${tid}/schedstat`).trim().split(" ").map(Number);
      const status = readOr(`/proc/${pid}/task/${tid}/status`);
      out.preempted += Number(/^nonvoluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? 0);
      out.wait += wait;
      if (pid === rootPid && tree.length > 1) out.primary += run;
      else if (String(pid) === tid) out.loop += run;
      else out.other += run;
    }
  }
  return out;
}

function signalAll(pids, signal) {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const UNIT = { us: 0.001, ms: 1, s: 1000 };
const toMs = (m) => (m == null ? Number.NaN : Number(m[1]) * UNIT[m[2]]);

/** wrk under bash, whose `times` gives wrk's own CPU. */
function runWrk(url) {
  const args = [
    "-t",
    "2",
    "-c",
    String(connections),
    "-d",
    `${seconds}s`,
    "--latency",
    "-H",
    `Accept: ${S2}`,
  ];
  const run = spawnSync("bash", ["-c", 'wrk "$@"; s=$?; times; exit $s', "wrk", ...args, url], {
    encoding: "utf8",
    timeout: (seconds + 30) * 1000,
  });
  if (run.status !== 0) throw new Error(`wrk failed: ${run.stderr || run.stdout}`);
  const out = run.stdout;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const times = [...out.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  // `times`: the shell's user and system, then its children's (wrk's).
  const wrkCpu = (times[2] ?? 0) + (times[3] ?? 0);
  return {
    requests,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50: toMs(/50%\s+([\d.]+)(us|ms|s)\b/.exec(out)),
    p90: toMs(/90%\s+([\d.]+)(us|ms|s)\b/.exec(out)),
    p99: toMs(/99%\s+([\d.]+)(us|ms|s)\b/.exec(out)),
    max: toMs(/Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(out)),
    wrkUs: (wrkCpu * 1e6) / requests,
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
  };
}

/** The GC lines (--trace-gc-nvp) written to `log` between two offsets. */
function gcOf(log, from, to) {
  const bytes = Buffer.alloc(Math.max(0, to - from));
  const fd = openSync(log, "r");
  try {
    readSync(fd, bytes, 0, bytes.length, from);
  } finally {
    closeSync(fd);
  }
  const text = bytes.toString("latin1");
  const gcs = [];
  for (const m of text.matchAll(/ pause=([\d.]+) .*? gc=(\w+) .*? allocated=(\d+) promoted=(\d+)/g)) {
    gcs.push({ pause: Number(m[1]), kind: m[2], allocated: Number(m[3]), promoted: Number(m[4]) });
  }
  return gcs;
}

async function measure(target) {
  const pids = treeOf(target.pid);
  const nodes = target.probed ? pids : [];
  const probeDir = target.probeDir;
  signalAll(nodes, "SIGUSR2");
  await sleep(200);
  if (probeDir !== undefined) for (const f of readdirSync(probeDir)) rmSync(path.join(probeDir, f));
  const logFrom = target.log === undefined ? 0 : statSync(target.log).size;
  const before = sample(target.pid);
  const w = runWrk(target.url);
  const after = sample(target.pid);
  signalAll(nodes, "SIGUSR2");
  await sleep(300);
  const logTo = target.log === undefined ? 0 : statSync(target.log).size;
  const per = (key) => (after[key] - before[key]) / w.requests;
  const result = {
    ...w,
    loopUs: per("loop") / 1000,
    otherUs: per("other") / 1000,
    primaryUs: per("primary") / 1000,
    cpuUs: (per("loop") + per("other") + per("primary")) / 1000,
    waitUs: per("wait") / 1000,
    preemptedPerK: per("preempted") * 1000,
    syscr: per("syscr"),
    syscw: per("syscw"),
    rssMiB: after.rssKiB / 1024,
  };
  if (probeDir !== undefined) {
    const reports = readdirSync(probeDir).map((f) =>
      JSON.parse(readFileSync(path.join(probeDir, f), "utf8")),
    );
    const loops = reports.filter((r) => r.worker || reports.length === 1);
    const worst = (key) => Math.max(...loops.map((r) => r.delay[key]));
    result.delay = { p50: worst("p50"), p99: worst("p99"), p999: worst("p999"), max: worst("max") };
    result.utilization = Math.max(...loops.map((r) => r.utilization));
  }
  if (target.log !== undefined) {
    const gcs = gcOf(target.log, logFrom, logTo);
    const scavenges = gcs.filter((g) => g.kind === "s");
    const full = gcs.filter((g) => g.kind !== "s");
    const sum = (xs, key) => xs.reduce((a, g) => a + g[key], 0);
    result.gc = {
      scavengesPerS: scavenges.length / seconds,
      scavengeMean: scavenges.length === 0 ? 0 : sum(scavenges, "pause") / scavenges.length,
      scavengeMax: Math.max(0, ...scavenges.map((g) => g.pause)),
      full: full.length,
      fullMax: Math.max(0, ...full.map((g) => g.pause)),
      allocatedPerReq: sum(gcs, "allocated") / w.requests,
      promotedPerReq: sum(gcs, "promoted") / w.requests,
    };
    // Access-log bytes per request (the GC lines are a few per second, left in).
    result.logBytes = (logTo - logFrom) / w.requests;
  }
  return result;
}

async function startRaas(work, conf, label, from, extraFlags = []) {
  const port = await freePort();
  const probeDir = path.join(work, `probe-${label}`);
  mkdirSync(probeDir);
  const log = path.join(work, `${label}.log`);
  const proc = startProcess(
    process.execPath,
    ["--trace-gc-nvp", ...serverBundleArgs(from, conf, port, extraFlags)],
    log,
    {
      env: {
        ...process.env,
        RAAS_WORKERS: workers,
        RAAS_PROBE_DIR: probeDir,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${probe}`.trim(),
      },
    },
  );
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/readyz`, { expect: 200, what: `raas (${label})` });
  return {
    label,
    url: `${base}/v2/bench/app/manifests/latest`,
    pid: proc.child.pid,
    stop: () => proc.stop(),
    probed: true,
    probeDir,
    log,
  };
}

async function startNginx(work, manifest) {
  const nginx = await startNginxAt(work, manifest, S2);
  return { label: "nginx", url: `${nginx.url}/manifest`, pid: nginx.pid, stop: nginx.stop, probed: false };
}

const medianOf = (xs) => {
  const sorted = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
/** The median of one figure over the rounds (each figure on its own). */
const med = (runs, pick) => medianOf(runs.map(pick));
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : "-");
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : "-");

function rowsOf(label, runs) {
  const m = (pick) => med(runs, pick);
  const rows = [
    [
      `${label}: req/s, latency p50 / p90 / p99 / max (ms)`,
      Math.round(m((r) => r.rps)).toLocaleString("en-US"),
      `${f2(m((r) => r.p50))} / ${f2(m((r) => r.p90))} / ${f2(m((r) => r.p99))} / ${f2(m((r) => r.max))}; p99 rounds ${runs.map((r) => f2(r.p99)).join(" / ")}`,
    ],
    [
      `${label}: server CPU us/req (loop threads + others + primary)`,
      f1(m((r) => r.cpuUs)),
      `${f1(m((r) => r.loopUs))} + ${f1(m((r) => r.otherUs))} + ${f1(m((r) => r.primaryUs))}; wrk ${f1(m((r) => r.wrkUs))} us/req`,
    ],
    [
      `${label}: run-queue wait us/req, preemptions per 1k req`,
      f1(m((r) => r.waitUs)),
      f1(m((r) => r.preemptedPerK)),
    ],
    [
      `${label}: syscalls read / write per req, RSS of all processes`,
      f2(m((r) => r.syscr)),
      `${f2(m((r) => r.syscw))}; RSS ${Math.round(m((r) => r.rssMiB))} MiB after the run`,
    ],
  ];
  if (runs[0]?.delay !== undefined) {
    rows.push([
      `${label}: event-loop delay p50 / p99 / p99.9 / max (ms, worst worker)`,
      f2(m((r) => r.delay.p99)),
      `${f2(m((r) => r.delay.p50))} / ${f2(m((r) => r.delay.p99))} / ${f2(m((r) => r.delay.p999))} / ${f2(m((r) => r.delay.max))}; loop utilization ${f2(m((r) => r.utilization))}`,
    ]);
  }
  if (runs[0]?.gc !== undefined) {
    rows.push([
      `${label}: scavenges/s, mean / max pause (ms), mark-compacts`,
      f1(m((r) => r.gc.scavengesPerS)),
      `${f2(m((r) => r.gc.scavengeMean))} / ${f2(m((r) => r.gc.scavengeMax))}; mark-compacts ${f1(m((r) => r.gc.full))} (max ${f2(m((r) => r.gc.fullMax))} ms)`,
    ]);
    rows.push([
      `${label}: allocated / promoted bytes per req, log bytes per req`,
      Math.round(m((r) => r.gc.allocatedPerReq)).toLocaleString("en-US"),
      `promoted ${f1(m((r) => r.gc.promotedPerReq))}; access log ${f1(m((r) => r.logBytes))}`,
    ]);
  }
  return rows;
}

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");

export async function benchServerTail() {
  const loadBefore = load();
  const work = mkdtempSync(path.join(tmpdir(), "raas-bench-tail-"));
  chmodSync(work, 0o755);
  const running = [];
  try {
    const app = await writeRegistryApp(path.join(work, "app"));
    // BENCH_NODE_FLAGS go to this checkout's target only, also when BENCH_COMPARE_ROOT is this checkout.
    const targets = [await startRaas(work, app.redirectConf, "raas", root, nodeFlags)];
    running.push(targets[0]);
    if (compareRoot !== undefined) {
      const other = await startRaas(work, app.redirectConf, "compared", compareRoot);
      running.push(other);
      targets.push(other);
    }
    const nginx = await startNginx(work, app.manifest);
    running.push(nginx);
    targets.push(nginx);
    if (request === "blob") {
      for (const t of targets) {
        if (t !== nginx) t.url = t.url.replace(/manifests\/latest$/, `blobs/${app.blobDigest}`);
      }
    }
    for (const t of targets) {
      const res = await fetch(t.url, { headers: { Accept: S2 }, redirect: "manual" });
      await res.arrayBuffer();
      const expected = request === "blob" && t !== nginx ? 307 : 200;
      if (res.status !== expected) throw new Error(`${t.label}: ${res.status}, expected ${expected}`);
    }
    // A deployed server is idle after it starts, until its first clients come.
    if (idleSeconds > 0) await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
    for (const t of targets) runWrk(t.url); // warm-up (JIT, connections), unrecorded
    const runs = new Map(targets.map((t) => [t.label, []]));
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) runs.get(t.label).push(await measure(t));
    }
    const rows = [];
    for (const t of targets) {
      rows.push(...rowsOf(t.label === "compared" ? "compared raas" : t.label, runs.get(t.label)));
    }
    if (compareRoot !== undefined) {
      const mine = runs.get("raas");
      const theirs = runs.get("compared");
      const ratio = (pick) => f2(medianOf(mine.map((r, i) => pick(r) / pick(theirs[i]))));
      rows.push([
        "this/compared: CPU per req, req/s, p99",
        `${ratio((r) => r.cpuUs)}x`,
        `req/s ${ratio((r) => r.rps)}x, p99 ${ratio((r) => r.p99)}x, allocation ${ratio((r) => r.gc.allocatedPerReq)}x (medians of the rounds' ratios)`,
      ]);
    }
    return {
      title: [
        `registry server latency tail: ${request === "blob" ? "blob GET (raas: 307 redirect; nginx: the manifest file)" : "manifest GET"}, ${connections} connections, ${seconds} s each (wrk -t2), ${rounds} alternated round(s), medians; raas workers ${workers}${idleSeconds > 0 ? `; every server idle ${idleSeconds} s after its start` : ""}${nodeFlags.length > 0 ? `, this raas with ${nodeFlags.join(" ")}` : ""}`,
        `  machine: nproc ${availableParallelism()}, Node ${process.versions.node}; load average (1/5/15 min) ${loadBefore} before, ${load()} after; ${new Date().toISOString()}`,
      ].join("\n"),
      rows,
    };
  } finally {
    for (const proc of running.reverse()) await proc.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, benchServerTail, { label: 66, value: 10 });
