// Benchmark: the event outbox and pull statistics.
//  1. Outbox throughput: events stored per second when `concurrency` requests record at once
//     (group commit: one object per storage round trip), and the latency of one record alone,
//     on local storage and on S3 (s3rver in its own process).
//  2. Manifest GET through the registry (1 worker, serve_content), wrk on loopback: statistics
//     and events off (the baseline, in the same run), statistics on, statistics and events on
//     with pull events stored once per window (the default), and with `pull_events = request`
//     (stored before each response). A collector in a process of its own receives the events.
//     Throughput at BENCH_CONNECTIONS connections and mean latency at 1 connection; the
//     configurations alternate over BENCH_ROUNDS rounds (default 3) and each figure is the
//     median of its rounds, so a shift in the machine's load hits every configuration alike.
//     The ratios against off are the overhead (target: <= 5%). With events on, the benchmark
//     then waits until the collector has every event of the pulls just answered, and prints how
//     long after the load that took and the server's CPU per pull including that delivery: a
//     server that falls behind its pulls looks fast under load only by leaving work for later.
//     BENCH_COMPARE_ROOT=<another built checkout> also runs that checkout's server with events (per
//     window and per request) and its outbox, alternated with this one's, and prints this / compared.
// The title states the machine, its load before and after, and the date. See bench/README.md.
import { cpus, loadavg, tmpdir } from "node:os";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runIfMain } from "./lib/report.mjs";
import { freePort, serverBundleArgs, startProcess, waitFor } from "./lib/procs.mjs";
import { writeRegistryApp } from "./lib/registry-app.mjs";
import { startS3rverProcess } from "./lib/s3.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = (p, from = root) => pathToFileURL(path.join(from, "dist", p)).href;
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
/** Another built checkout whose server (events per window) is measured too, in the same rounds. */
const compareRoot = process.env.BENCH_COMPARE_ROOT;
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const S2 = "application/vnd.docker.distribution.manifest.v2+json";
const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");

async function outboxThroughput(store, total, concurrency, from = root) {
  const { Outbox } = await import(dist("events/outbox.js", from));
  const { makeEvent } = await import(dist("events/envelope.js", from));
  const outbox = new Outbox(store, "bench");
  const event = () =>
    makeEvent({
      action: "pull",
      target: {
        mediaType: S2,
        size: 500,
        digest: `sha256:${"a".repeat(64)}`,
        repository: "bench/app",
        url: "/x",
        tag: "latest",
      },
      source: { addr: "", instanceID: "bench" },
    });
  // Latency of one event alone (nothing to group with).
  const single = [];
  for (let i = 0; i < 20; i++) {
    const t = process.hrtime.bigint();
    await outbox.record(event());
    single.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  single.sort((a, b) => a - b);
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) await outbox.record(event());
    }),
  );
  const s = Number(process.hrtime.bigint() - started) / 1e9;
  return { rate: total / s, single: single[10] };
}

/** wrk: requests/s and mean latency (ms). */
function wrk(url, c, cpu = () => undefined) {
  const c0 = cpu();
  const run = spawnSync(
    "wrk",
    ["-t", c === 1 ? "1" : "2", "-c", String(c), "-d", `${seconds}s`, "-H", `Accept: ${S2}`, url],
    { encoding: "utf8", timeout: (seconds + 30) * 1000 },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(run.stdout)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(run.stdout)?.[1]);
  const lat = /Latency\s+([\d.]+)(us|ms|s)/.exec(run.stdout);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(run.stdout)?.[1] ?? 0);
  if (!Number.isFinite(rps) || lat === null || non2xx > 0) {
    throw new Error(`wrk failed:\n${run.stdout}${run.stderr}`);
  }
  const c1 = cpu();
  // Server CPU per request (µs): less sensitive to a loaded machine than requests/s.
  const cpuUs = c0 === undefined || c1 === undefined ? NaN : ((c1 - c0) * 1e6) / requests;
  return { rps, cpuUs, requests, meanMs: Number(lat[1]) * { us: 0.001, ms: 1, s: 1000 }[lat[2]] };
}

async function registry(work, conf, label, from = root) {
  const port = await freePort();
  const proc = startProcess(
    process.execPath,
    serverBundleArgs(from, conf, port),
    path.join(work, `${label}.log`),
    { env: { PATH: process.env.PATH, RAAS_WORKERS: "1" }, cwd: work },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/readyz`, { expect: 200, what: `raas registry (${label})` });
  // CPU seconds the server process used so far (user + system, /proc; undefined elsewhere).
  const cpu = () => {
    try {
      const f = readFileSync(`/proc/${proc.child.pid}/stat`, "utf8").split(") ")[1].split(" ");
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return undefined;
    }
  };
  return { url, cpu, stop: () => proc.stop() };
}

/**
 * The observer's own CPU per counted pull, in this process (what statistics and events add to
 * a manifest GET, without the HTTP around it): `pulled()` called in chunks of 1,000 with a turn
 * of the event loop between them, so window writes and flushes run as in the server. The median
 * of 5 runs of `n` pulls, CPU time (user + system), so the machine's load barely moves it.
 */
async function observerCost(work, name, extra, n) {
  const { createObserver } = await import(dist("server/observe.js"));
  const { loadServerConfig } = await import(dist("server/config.js"));
  const { LocalStore } = await import(dist("storage/local.js"));
  const file = path.join(work, `observer-${name}.conf`);
  writeFileSync(file, extra);
  const observer = createObserver(
    await loadServerConfig(file, {}),
    new LocalStore(path.join(work, `observer-${name}`)),
    {},
    () => undefined,
  );
  const socket = { remoteAddress: "127.0.0.1" };
  const digest = `sha256:${"a".repeat(64)}`;
  const pull = () =>
    observer.pulled({
      req: { socket, headers: { host: "127.0.0.1:5000", "user-agent": "wrk/4.2.0" }, method: "GET" },
      repository: "bench/app",
      reference: "latest",
      digest,
      mediaType: S2,
      size: 528,
    });
  const runs = [];
  for (let round = 0; round < 6; round++) {
    const before = process.cpuUsage();
    for (let i = 0; i < n / 1000; i++) {
      for (let j = 0; j < 1000; j++) pull();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const used = process.cpuUsage(before);
    if (round > 0) runs.push(((used.user + used.system) * 1000) / n); // round 0 warms up
  }
  await observer.close();
  return median(runs);
}

export async function benchEvents() {
  const loadBefore = load();
  const work = mkdtempSync(path.join(tmpdir(), "raas-bench-events-"));
  // The collector runs in a process of its own: wrk blocks this one while it measures.
  const collectorPort = await freePort();
  const collector = startProcess(
    process.execPath,
    [
      "-e",
      `let n=0;require("node:http").createServer((q,r)=>{let b="";q.on("data",c=>b+=c);q.on("end",()=>{n+=JSON.parse(b).events.length;r.end(String(n))})}).listen(${collectorPort},"127.0.0.1")`,
    ],
    path.join(work, "collector.log"),
  );
  await new Promise((r) => setTimeout(r, 300));
  const s3 = await startS3rverProcess(path.join(work, "s3"), ["bench"]);
  try {
    const { LocalStore } = await import(dist("storage/local.js"));
    const { S3Store } = await import(dist("storage/s3.js"));
    const local = await outboxThroughput(new LocalStore(path.join(work, "store")), 20_000, 64);
    // The compared checkout's outbox and local store, on a store of their own, then this one's again.
    let comparedLocal;
    if (compareRoot !== undefined) {
      const Compared = (await import(dist("storage/local.js", compareRoot))).LocalStore;
      const runs = [];
      for (let i = 0; i < 2; i++) {
        runs.push(
          await outboxThroughput(
            new Compared(path.join(work, `compared-store-${i}`)),
            20_000,
            64,
            compareRoot,
          ),
        );
        runs.push(await outboxThroughput(new LocalStore(path.join(work, `store-${i}`)), 20_000, 64));
      }
      const rates = (odd) => runs.filter((_, i) => i % 2 === odd).map((r) => r.rate);
      comparedLocal = { compared: median(rates(0)), own: median([local.rate, ...rates(1)]) };
    }
    const s3store = new S3Store({
      bucket: "bench",
      endpoint: s3.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    });
    const remote = await outboxThroughput(s3store, 5_000, 64);
    s3store.close?.();

    const app = await writeRegistryApp(work);
    const base = readFileSync(app.serveConf, "utf8");
    const conf = (name, extra) => {
      const file = path.join(work, `${name}.conf`);
      writeFileSync(file, `${base}${extra}`);
      return file;
    };
    const endpoint = `[events.bench]\nurl = http://127.0.0.1:${collectorPort}/\n`;
    const variants = [
      ["off", conf("off", "[stats]\nenable = false\n")],
      ["stats", conf("stats", "[stats]\nenable = true\n")],
      ["stats+events", conf("events", `[stats]\nenable = true\n${endpoint}`)],
      ["stats+events/request", conf("request", `[stats]\nenable = true\n${endpoint}pull_events = request\n`)],
    ];
    if (compareRoot !== undefined) {
      variants.push(["compared: stats+events", variants[2][1], compareRoot]);
      variants.push(["compared: stats+events/request", variants[3][1], compareRoot]);
    }
    // The collector's count of events received so far (an empty POST answers it).
    // A failed ask is asked again: the collector closes a kept-alive connection after 5 s idle, and
    // a request can meet it closing.
    const collected = async (attempt = 0) => {
      try {
        const r = await fetch(`http://127.0.0.1:${collectorPort}/`, {
          method: "POST",
          body: '{"events":[]}',
        });
        return Number(await r.text());
      } catch (err) {
        if (attempt >= 3) throw err;
        return collected(attempt + 1);
      }
    };
    /** Wait until the collector has `expected` events (at most 60 s); ms waited, or NaN if it never did. */
    const delivered = async (expected) => {
      const started = Date.now();
      while ((await collected()) < expected) {
        if (Date.now() - started > 60_000) return NaN;
        await new Promise((r) => setTimeout(r, 50));
      }
      return Date.now() - started;
    };
    const runs = {};
    for (let round = 0; round < rounds; round++) {
      for (const [name, file, from] of variants) {
        const r = await registry(work, file, `${name.replace(/[/: ]/g, "-")}-${round}`, from);
        try {
          const url = `${r.url}/v2/${app.name}/manifests/latest`;
          const events = name.includes("events");
          const before = events ? await collected() : 0;
          const warm = wrk(url, 4);
          const c0 = r.cpu();
          const many = wrk(url, connections, r.cpu);
          // Every event of those pulls delivered: how long after the load, at what CPU per pull.
          const drain = events ? await delivered(before + warm.requests + many.requests) : NaN;
          const allCpuUs = events ? ((r.cpu() - c0) * 1e6) / many.requests : NaN;
          const one = wrk(url, 1);
          // Nothing left over for the next server of this store to deliver.
          if (events) await delivered(before + warm.requests + many.requests + one.requests);
          (runs[name] ??= []).push({ many, one, drain, allCpuUs });
        } finally {
          await r.stop();
        }
      }
    }
    const m = Object.fromEntries(
      Object.entries(runs).map(([name, list]) => [
        name,
        {
          many: { rps: median(list.map((x) => x.many.rps)), cpuUs: median(list.map((x) => x.many.cpuUs)) },
          drainMs: median(list.map((x) => x.drain)),
          allCpuUs: median(list.map((x) => x.allCpuUs)),
          one: { rps: median(list.map((x) => x.one.rps)), meanMs: median(list.map((x) => x.one.meanMs)) },
          spread: list.map((x) => Math.round(x.many.rps)).join(", "),
        },
      ]),
    );
    // Events to an endpoint that refuses connections: stored per window, never delivered here.
    const observerStats = await observerCost(work, "stats", "[stats]\nenable = true\n", 200_000);
    const observerEvents = await observerCost(
      work,
      "events",
      "[stats]\nenable = true\n[events.c]\nurl = http://127.0.0.1:9/\n",
      200_000,
    );
    // Give delivery a moment, then ask the collector how many events it has (an empty POST).
    await new Promise((r) => setTimeout(r, 2000));
    const received = await fetch(`http://127.0.0.1:${collectorPort}/`, {
      method: "POST",
      body: '{"events":[]}',
    })
      .then((r) => r.text())
      .catch(() => "?");
    const pct = (a, b) => `${(((a - b) / b) * 100).toFixed(1)}%`;
    const row = (name, key = name) => [
      `manifest GET, ${name}`,
      `${Math.round(m[key].many.rps)}/s`,
      `${connections} conn (rounds: ${m[key].spread}); server CPU ${m[key].many.cpuUs.toFixed(1)} µs/request; 1 conn: ${Math.round(m[key].one.rps)}/s, mean ${m[key].one.meanMs.toFixed(3)} ms`,
    ];
    return {
      title: [
        `events and statistics: outbox throughput; manifest GET with statistics/events on vs off (1 worker, wrk ${seconds} s, median of ${rounds} alternating rounds)`,
        `  machine: nproc ${cpus().length}, ${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.versions.node}`,
        `  load average (1/5/15 min): ${loadBefore} before, ${load()} after; ${new Date().toISOString()}`,
        `  events delivered to the collector (by the end of the last run + 2 s): ${received}`,
      ].join("\n"),
      rows: [
        [
          "outbox, local storage, 64 recording at once",
          `${Math.round(local.rate)}/s`,
          `one event alone: ${local.single.toFixed(2)} ms (median of 20)`,
        ],
        ...(comparedLocal === undefined
          ? []
          : [
              [
                "outbox, local storage: this / compared",
                `${(comparedLocal.own / comparedLocal.compared).toFixed(2)}x`,
                `medians of 3 / 2 alternated runs: ${Math.round(comparedLocal.own)} / ${Math.round(comparedLocal.compared)} events/s`,
              ],
            ]),
        [
          "outbox, s3rver, 64 recording at once",
          `${Math.round(remote.rate)}/s`,
          `one event alone: ${remote.single.toFixed(2)} ms (median of 20)`,
        ],
        row("off (baseline)", "off"),
        row("stats"),
        row("stats+events (pull events per window)", "stats+events"),
        row("stats+events (pull_events = request)", "stats+events/request"),
        ["throughput change, stats vs off", pct(m.stats.many.rps, m.off.many.rps), "target: >= -5%"],
        [
          "throughput change, stats+events (window) vs off",
          pct(m["stats+events"].many.rps, m.off.many.rps),
          "target: >= -5%",
        ],
        [
          "throughput change, stats+events (request) vs off",
          pct(m["stats+events/request"].many.rps, m.off.many.rps),
          "durable per request: one storage write per pull",
        ],
        [
          "server CPU per request change, stats vs off",
          pct(m.stats.many.cpuUs, m.off.many.cpuUs),
          `${connections} conn; CPU time of the server process per request (/proc)`,
        ],
        [
          "server CPU per request change, stats+events (window) vs off",
          pct(m["stats+events"].many.cpuUs, m.off.many.cpuUs),
          `${connections} conn; includes delivering every pull event to the collector`,
        ],
        ...["stats+events", "stats+events/request"].flatMap((key) => [
          [
            `${key === "stats+events" ? "window" : "request"}: every event delivered`,
            Number.isFinite(m[key].drainMs) ? `${(m[key].drainMs / 1000).toFixed(2)} s` : "NOT within 60 s",
            "after the load ended: the collector has the event of every pull answered",
          ],
          [
            `${key === "stats+events" ? "window" : "request"}: server CPU per pull, delivery included`,
            `${m[key].allCpuUs.toFixed(1)} µs`,
            `${pct(m[key].allCpuUs, m.off.many.cpuUs)} against off's CPU per request (nothing to deliver)`,
          ],
        ]),
        ...(compareRoot === undefined
          ? []
          : [
              row("compared checkout, stats+events (window)", "compared: stats+events"),
              [
                "this / compared, stats+events (window)",
                `${(m["stats+events"].many.rps / m["compared: stats+events"].many.rps).toFixed(2)}x req/s`,
                `CPU per pull with delivery ${(m["stats+events"].allCpuUs / m["compared: stats+events"].allCpuUs).toFixed(2)}x` +
                  ` (${m["stats+events"].allCpuUs.toFixed(1)} / ${m["compared: stats+events"].allCpuUs.toFixed(1)} µs);` +
                  ` all delivered after ${(m["stats+events"].drainMs / 1000).toFixed(2)} / ${(m["compared: stats+events"].drainMs / 1000).toFixed(2)} s`,
              ],
              row("compared checkout, stats+events (request)", "compared: stats+events/request"),
              [
                "this / compared, stats+events (request)",
                `${(m["stats+events/request"].many.rps / m["compared: stats+events/request"].many.rps).toFixed(2)}x req/s`,
                `mean latency at 1 conn ${(m["stats+events/request"].one.meanMs / m["compared: stats+events/request"].one.meanMs).toFixed(2)}x` +
                  ` (${m["stats+events/request"].one.meanMs.toFixed(2)} / ${m["compared: stats+events/request"].one.meanMs.toFixed(2)} ms);` +
                  ` CPU per pull with delivery ${(m["stats+events/request"].allCpuUs / m["compared: stats+events/request"].allCpuUs).toFixed(2)}x`,
              ],
            ]),
        [
          "observer CPU per pull, stats",
          `${Math.round(observerStats)} ns`,
          `in process; ${((observerStats / 1000 / m.off.many.cpuUs) * 100).toFixed(1)}% of the server's CPU per request with stats off`,
        ],
        [
          "observer CPU per pull, stats+events (window)",
          `${Math.round(observerEvents)} ns`,
          `in process, delivery not included; ${((observerEvents / 1000 / m.off.many.cpuUs) * 100).toFixed(1)}% of the server's CPU per request with stats off`,
        ],
        [
          "mean latency change at 1 conn, stats vs off",
          pct(m.stats.one.meanMs, m.off.one.meanMs),
          "target: <= +5%",
        ],
        [
          "mean latency change at 1 conn, stats+events (window) vs off",
          pct(m["stats+events"].one.meanMs, m.off.one.meanMs),
          "target: <= +5%",
        ],
        [
          "mean latency change at 1 conn, stats+events (request) vs off",
          pct(m["stats+events/request"].one.meanMs, m.off.one.meanMs),
          "the event is stored before the response",
        ],
      ],
    };
  } finally {
    await collector.stop();
    s3.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, benchEvents, { label: 52, value: 10 });
