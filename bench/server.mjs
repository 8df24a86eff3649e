// Benchmark: the raas registry server against distribution (Debian `docker-registry`, the
// reference registry) and a static nginx (the ceiling), all on loopback, in the same run, with
// the same image: manifest GET by tag, and blob GET answered with a redirect. raas with all its
// workers against nginx with `worker_processes auto`, then both limited to one worker. wrk, 64
// connections, BENCH_SECONDS (default 10) per measurement, BENCH_ROUNDS (default 1) alternated
// rounds of the raas/nginx pairs, with a bare node:http server on every core (Node's floor,
// bench/lib/node-floor.mjs) in each round. Each row also gives the CPU time the server's processes spent
// per request. BENCH_COMPARE_ROOT=<another built checkout> also runs that checkout's server
// bundle (1 worker), alternated with this one's. The title states the machine, its load before and after, and the date. See
// bench/README.md.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runIfMain } from "./lib/report.mjs";
import { freePort, serverBundleArgs, startProcess, waitFor, workerNodeFlags, wrk } from "./lib/procs.mjs";
import { writeRegistryApp } from "./lib/registry-app.mjs";
import { startNginx } from "./lib/nginx.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1));
/** Another built checkout whose server bundle is measured too (1 worker), alternated with this one. */
const compareRoot = process.env.BENCH_COMPARE_ROOT;
const S2 = "application/vnd.docker.distribution.manifest.v2+json";

/** The raas server with `workers` worker processes ("auto": one per usable CPU). */
function startRaas(work, conf, label, workers = "auto", from = root) {
  return freePort().then(async (port) => {
    const proc = startProcess(
      process.execPath,
      serverBundleArgs(from, conf, port),
      path.join(work, `${label}.log`),
      { env: { ...process.env, RAAS_WORKERS: String(workers) } },
    );
    const url = `http://127.0.0.1:${port}`;
    await waitFor(`${url}/readyz`, { expect: 200, what: `raas registry (${label})` });
    return { url, pid: proc.child.pid, stop: () => proc.stop() };
  });
}

async function startDistribution(work) {
  const port = await freePort();
  const conf = path.join(work, "distribution.yml");
  // Filesystem storage plus the redirect middleware, so its blob GET is a redirect like ours.
  writeFileSync(
    conf,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${path.join(work, "distribution")}`,
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "  secret: raas-bench",
      "middleware:",
      "  storage:",
      "    - name: redirect",
      "      options:",
      "        baseurl: http://127.0.0.1:9/",
      "",
    ].join("\n"),
  );
  const proc = startProcess("/usr/bin/docker-registry", ["serve", conf], path.join(work, "distribution.log"));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/v2/`, { expect: 200, what: "distribution" });
  return { url, pid: proc.child.pid, stop: () => proc.stop() };
}

/** bench/lib/node-floor.mjs: node:http on every core answering the manifest, nothing else. */
async function startFloor(work, manifest) {
  const port = await freePort();
  const file = path.join(work, "floor-manifest.json");
  writeFileSync(file, manifest);
  const proc = startProcess(
    process.execPath,
    // The same V8 flags as raas's workers (its cluster workers inherit them), so the ratio to
    // the floor is raas's own work, not a runtime setting.
    [...workerNodeFlags(), path.join(here, "lib", "node-floor.mjs"), String(port), file, S2],
    path.join(work, "floor.log"),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(url, { expect: 200, what: "bare node:http" });
  return { url, pid: proc.child.pid, stop: () => proc.stop() };
}

async function check(url, headers, status, digest) {
  const res = await fetch(url, { headers, redirect: "manual" });
  await res.arrayBuffer();
  const got = res.headers.get("docker-content-digest");
  if (res.status !== status || (digest !== undefined && got !== digest)) {
    throw new Error(`${url}: expected ${status} ${digest ?? ""}, got ${res.status} ${got ?? ""}`);
  }
}

const fmt = (r) => `${Math.round(r.rps).toLocaleString("en-US")} req/s`;
/** User + system CPU microseconds the server's processes spent per request (NaN without /proc). */
const cpuUs = (r) => (r?.cpu === undefined ? Number.NaN : r.cpu.userUs + r.cpu.systemUs);
const cpuText = (r) =>
  r.cpu === undefined
    ? ""
    : `, server CPU ${cpuUs(r).toFixed(1)} us/req (user ${r.cpu.userUs.toFixed(1)}, sys ${r.cpu.systemUs.toFixed(1)})`;
const detail = (r) =>
  `p99 ${r.p99ms.toFixed(2)} ms${cpuText(r)}${r.non2xx > 0 ? `, ${r.non2xx} non-2xx/3xx` : ""}${r.errors ? `, ${r.errors}` : ""}`;
const medianOf = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
};
/** The run whose requests/s is the median of the rounds (its p99 and CPU come with it). */
const median = (runs) => {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  return sorted[(sorted.length - 1) >> 1];
};
/** The median of the rounds' p99 (each round's own, not the p99 of the median-throughput run). */
const p99Rounds = (runs) => [
  `${medianOf(runs.map((r) => r.p99ms)).toFixed(2)} ms`,
  runs.length > 1 ? `rounds ${runs.map((r) => r.p99ms.toFixed(2)).join(" / ")} ms` : "",
];
const roundsOf = (xs, ys) =>
  xs.length > 1 ? `rounds ${xs.map((x, i) => (x.rps / (ys[i]?.rps ?? NaN)).toFixed(2)).join(" / ")}` : "";

function cpuModel() {
  try {
    return (
      /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? "unknown CPU"
    );
  } catch {
    return "unknown CPU";
  }
}

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");

function version(command, args, pattern) {
  const run = spawnSync(command, args, { encoding: "utf8" });
  return pattern.exec(`${run.stdout}${run.stderr}`)?.[1] ?? "?";
}

export async function benchServer() {
  const loadBefore = load();
  const work = mkdtempSync(path.join(tmpdir(), "raas-bench-server-"));
  // nginx workers run as an unprivileged user when started by root: they must reach www/.
  chmodSync(work, 0o755);
  const running = [];
  try {
    const app = await writeRegistryApp(path.join(work, "app"));
    const serve = await startRaas(work, app.serveConf, "raas-serve", 1);
    running.push(serve);
    const dist = await startDistribution(work);
    running.push(dist);
    const ref = (base) => `${base.replace("http://", "")}/${app.name}:latest`;
    const copy = spawnSync(
      "skopeo",
      [
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        `docker://${ref(serve.url)}`,
        `docker://${ref(dist.url)}`,
      ],
      { encoding: "utf8", timeout: 120_000 },
    );
    if (copy.status !== 0) throw new Error(`skopeo copy into distribution failed:\n${copy.stderr}`);
    await serve.stop();
    running.splice(running.indexOf(serve), 1);
    const raas = await startRaas(work, app.redirectConf, "raas-all");
    running.push(raas);
    const raas1 = await startRaas(work, app.redirectConf, "raas-1", 1);
    running.push(raas1);
    const other =
      compareRoot === undefined
        ? undefined
        : await startRaas(work, app.redirectConf, "raas-compare", 1, compareRoot);
    if (other !== undefined) running.push(other);
    const nginx = await startNginx(work, app.manifest, S2, "auto");
    running.push(nginx);
    const nginx1 = await startNginx(work, app.manifest, S2, 1);
    running.push(nginx1);
    const floor = await startFloor(work, app.manifest);
    running.push(floor);

    const accept = { Accept: S2 };
    const manifestPath = `/v2/${app.name}/manifests/latest`;
    const blobPath = `/v2/${app.name}/blobs/${app.blobDigest}`;
    for (const target of other === undefined ? [raas, raas1] : [raas, raas1, other]) {
      await check(target.url + manifestPath, accept, 200, app.digest);
      await check(target.url + blobPath, {}, 307);
    }
    await check(dist.url + manifestPath, accept, 200, app.digest);
    await check(dist.url + blobPath, {}, 307);
    await check(`${nginx.url}/manifest`, {}, 200);
    await check(`${nginx1.url}/manifest`, {}, 200);
    await check(floor.url + manifestPath, accept, 200, app.digest);

    // Warm every target first (JIT, caches, connection pools), unrecorded.
    for (const [url, headers] of [
      [raas.url + manifestPath, accept],
      [raas1.url + manifestPath, accept],
      [dist.url + manifestPath, accept],
      [`${nginx.url}/manifest`, accept],
      [`${nginx1.url}/manifest`, accept],
      [floor.url + manifestPath, accept],
      [raas.url + blobPath, {}],
      [dist.url + blobPath, {}],
      ...(other === undefined ? [] : [[other.url + manifestPath, accept]]),
    ]) {
      wrk(url, { seconds: 2, connections, headers });
    }
    // The raas/nginx pairs are measured BENCH_ROUNDS times, alternating which goes first, and
    // each figure is the median of its rounds: on a shared machine one run of each is a lottery.
    const measure = (target, url, headers = accept) =>
      wrk(url, { seconds, connections, headers, pid: target.pid });
    const pairs = {
      all: [() => measure(raas, raas.url + manifestPath), () => measure(nginx, `${nginx.url}/manifest`)],
      one: [() => measure(raas1, raas1.url + manifestPath), () => measure(nginx1, `${nginx1.url}/manifest`)],
    };
    if (other !== undefined) {
      pairs.compare = [
        () => measure(raas1, raas1.url + manifestPath),
        () => measure(other, other.url + manifestPath),
      ];
    }
    const names = { all: ["raas", "nginx"], one: ["raas1", "nginx1"], compare: ["raas1c", "other"] };
    const runs = { raas: [], nginx: [], raas1: [], nginx1: [], raas1c: [], other: [], floor: [] };
    for (let round = 0; round < rounds; round++) {
      const flip = round % 2 === 1;
      // Node's floor in every round too, so its p99 is read under the same conditions.
      runs.floor.push(measure(floor, floor.url + manifestPath));
      for (const [key, [a, b]] of Object.entries(pairs)) {
        const [first, second] = flip ? [b, a] : [a, b];
        const x = first();
        const y = second();
        const [mine, theirs] = flip ? [y, x] : [x, y];
        runs[names[key][0]].push(mine);
        runs[names[key][1]].push(theirs);
      }
    }
    const m = {
      raas: median(runs.raas),
      nginx: median(runs.nginx),
      dist: measure(dist, dist.url + manifestPath),
      raas1: median(runs.raas1),
      nginx1: median(runs.nginx1),
      floor: median(runs.floor),
    };
    const b = {
      raas: measure(raas, raas.url + blobPath, {}),
      dist: measure(dist, dist.url + blobPath, {}),
    };
    // Ratios of the same round, then their median.
    const pairRatio = (xs, ys) => `${medianOf(xs.map((x, i) => x.rps / (ys[i]?.rps ?? NaN))).toFixed(2)}x`;
    const cpuRatio = (xs, ys) => {
      const per = xs.map((x, i) => cpuUs(x) / cpuUs(ys[i]));
      return per.every(Number.isFinite) ? `${medianOf(per).toFixed(2)}x` : "n/a";
    };
    const ratio = (a, c) => `${(a.rps / c.rps).toFixed(2)}x`;
    const cpus = availableParallelism();
    const machine = [
      `machine: nproc ${cpus}, ${cpuModel()}, Node ${process.versions.node}, wrk ${version("wrk", ["-v"], /wrk (\S+)/)}, nginx ${version("/usr/sbin/nginx", ["-v"], /nginx\/(\S+)/)}`,
      `load average (1/5/15 min): ${loadBefore} before, ${load()} after; ${new Date().toISOString()}`,
      "wrk and the servers share the machine's cores; raas workers: auto (one per usable CPU)",
    ];
    return {
      title: [
        `registry server: ${connections} connections, ${seconds} s each (wrk -t2), manifest ${app.manifest.length} bytes, ${rounds} round(s) of the raas/nginx pairs (medians)`,
        ...machine.map((line) => `  ${line}`),
      ].join("\n"),
      rows: [
        [`manifest GET: raas, all workers`, fmt(m.raas), detail(m.raas)],
        [`manifest GET: nginx static file, worker_processes auto`, fmt(m.nginx), detail(m.nginx)],
        ["manifest GET: distribution 2.8", fmt(m.dist), detail(m.dist)],
        [
          "ratio raas/nginx, all cores (target >= 0.5x)",
          pairRatio(runs.raas, runs.nginx),
          roundsOf(runs.raas, runs.nginx),
        ],
        ["ratio raas/distribution (target >= 10x)", ratio(m.raas, m.dist), ""],
        [`p99, raas all workers, median of rounds (target < 5 ms)`, ...p99Rounds(runs.raas)],
        [`p99, nginx auto, median of rounds`, ...p99Rounds(runs.nginx)],
        ["manifest GET: bare node:http, all workers (Node's floor)", fmt(m.floor), detail(m.floor)],
        ["p99, bare node:http all workers, median of rounds", ...p99Rounds(runs.floor)],
        [
          "ratio raas/bare node:http, all cores",
          pairRatio(runs.raas, runs.floor),
          roundsOf(runs.raas, runs.floor),
        ],
        ["manifest GET: raas, 1 worker", fmt(m.raas1), detail(m.raas1)],
        ["manifest GET: nginx, worker_processes 1", fmt(m.nginx1), detail(m.nginx1)],
        [
          "ratio raas/nginx, 1 worker each",
          pairRatio(runs.raas1, runs.nginx1),
          roundsOf(runs.raas1, runs.nginx1),
        ],
        ["server CPU per request raas/nginx, all cores", cpuRatio(runs.raas, runs.nginx), ""],
        ["server CPU per request raas/nginx, 1 worker each", cpuRatio(runs.raas1, runs.nginx1), ""],
        ...(other === undefined
          ? []
          : [
              [
                "manifest GET: BENCH_COMPARE_ROOT's raas, 1 worker",
                fmt(median(runs.other)),
                detail(median(runs.other)),
              ],
              [
                "ratio this raas/compared raas, 1 worker each",
                pairRatio(runs.raas1c, runs.other),
                roundsOf(runs.raas1c, runs.other),
              ],
              ["server CPU per request this/compared, 1 worker each", cpuRatio(runs.raas1c, runs.other), ""],
            ]),
        ["blob GET (307 redirect): raas, all workers", fmt(b.raas), detail(b.raas)],
        ["blob GET (307 redirect): distribution 2.8", fmt(b.dist), detail(b.dist)],
        ["ratio blob raas/distribution", ratio(b.raas, b.dist), ""],
      ],
    };
  } finally {
    for (const proc of running.reverse()) await proc.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, benchServer, { label: 56, value: 14 });
