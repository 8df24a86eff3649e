// Benchmark: the raas registry server against distribution (Debian `docker-registry`, the
// reference registry) and a static nginx (the ceiling), all on loopback, in the same run, with
// the same image: manifest GET by tag, and blob GET answered with a redirect. raas with all its
// workers against nginx with `worker_processes auto`, then both limited to one worker. wrk, 64
// connections, BENCH_SECONDS (default 10) per measurement. The title states the machine, its
// load before and after, and the date. See bench/README.md.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runIfMain } from "./lib/report.mjs";
import { freePort, serverBundleArgs, startProcess, waitFor, wrk } from "./lib/procs.mjs";
import { writeRegistryApp } from "./lib/registry-app.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const S2 = "application/vnd.docker.distribution.manifest.v2+json";

/** The raas server with `workers` worker processes ("auto": one per usable CPU). */
function startRaas(work, conf, label, workers = "auto") {
  return freePort().then(async (port) => {
    const proc = startProcess(
      process.execPath,
      serverBundleArgs(root, conf, port),
      path.join(work, `${label}.log`),
      { env: { ...process.env, RAAS_WORKERS: String(workers) } },
    );
    const url = `http://127.0.0.1:${port}`;
    await waitFor(`${url}/readyz`, { expect: 200, what: `raas registry (${label})` });
    return { url, stop: () => proc.stop() };
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
  return { url, stop: () => proc.stop() };
}

async function startNginx(work, manifest, workers = "auto") {
  const port = await freePort();
  const prefix = path.join(work, `nginx-${workers}`);
  const www = path.join(prefix, "www");
  mkdirSync(www, { recursive: true });
  writeFileSync(path.join(www, "manifest"), manifest);
  const conf = path.join(prefix, "nginx.conf");
  const temp = (name) => `${name}_temp_path ${path.join(prefix, name)};`;
  writeFileSync(
    conf,
    [
      "daemon off;",
      `worker_processes ${workers};`,
      `pid ${path.join(prefix, "nginx.pid")};`,
      `error_log ${path.join(prefix, "error.log")} error;`,
      "events { worker_connections 1024; }",
      "http {",
      `  access_log ${path.join(prefix, "access.log")};`,
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((n) => `  ${temp(n)}`),
      "  keepalive_requests 100000;",
      `  server { listen 127.0.0.1:${port}; root ${www}; location / { default_type ${S2}; } }`,
      "}",
      "",
    ].join("\n"),
  );
  const proc = startProcess("/usr/sbin/nginx", ["-p", prefix, "-c", conf], path.join(prefix, "nginx.out"));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/manifest`, { expect: 200, what: "nginx" });
  return { url, stop: () => proc.stop() };
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
const detail = (r) =>
  `p99 ${r.p99ms.toFixed(2)} ms${r.non2xx > 0 ? `, ${r.non2xx} non-2xx/3xx` : ""}${r.errors ? `, ${r.errors}` : ""}`;

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
    const nginx = await startNginx(work, app.manifest, "auto");
    running.push(nginx);
    const nginx1 = await startNginx(work, app.manifest, 1);
    running.push(nginx1);

    const accept = { Accept: S2 };
    const manifestPath = `/v2/${app.name}/manifests/latest`;
    const blobPath = `/v2/${app.name}/blobs/${app.blobDigest}`;
    for (const target of [raas, raas1]) {
      await check(target.url + manifestPath, accept, 200, app.digest);
      await check(target.url + blobPath, {}, 307);
    }
    await check(dist.url + manifestPath, accept, 200, app.digest);
    await check(dist.url + blobPath, {}, 307);
    await check(`${nginx.url}/manifest`, {}, 200);
    await check(`${nginx1.url}/manifest`, {}, 200);

    // Warm every target first (JIT, caches, connection pools), unrecorded.
    for (const [url, headers] of [
      [raas.url + manifestPath, accept],
      [raas1.url + manifestPath, accept],
      [dist.url + manifestPath, accept],
      [`${nginx.url}/manifest`, accept],
      [`${nginx1.url}/manifest`, accept],
      [raas.url + blobPath, {}],
      [dist.url + blobPath, {}],
    ]) {
      wrk(url, { seconds: 2, connections, headers });
    }
    const opts = { seconds, connections, headers: accept };
    const m = {
      raas: wrk(raas.url + manifestPath, opts),
      nginx: wrk(`${nginx.url}/manifest`, opts),
      dist: wrk(dist.url + manifestPath, opts),
      raas1: wrk(raas1.url + manifestPath, opts),
      nginx1: wrk(`${nginx1.url}/manifest`, opts),
    };
    const b = {
      raas: wrk(raas.url + blobPath, { seconds, connections }),
      dist: wrk(dist.url + blobPath, { seconds, connections }),
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
        `registry server: ${connections} connections, ${seconds} s each (wrk -t2), manifest ${app.manifest.length} bytes`,
        ...machine.map((line) => `  ${line}`),
      ].join("\n"),
      rows: [
        [`manifest GET: raas, all workers`, fmt(m.raas), detail(m.raas)],
        [`manifest GET: nginx static file, worker_processes auto`, fmt(m.nginx), detail(m.nginx)],
        ["manifest GET: distribution 2.8", fmt(m.dist), detail(m.dist)],
        ["ratio raas/nginx, all cores (target >= 0.5x)", ratio(m.raas, m.nginx), ""],
        ["ratio raas/distribution (target >= 10x)", ratio(m.raas, m.dist), ""],
        ["manifest GET: raas, 1 worker", fmt(m.raas1), detail(m.raas1)],
        ["manifest GET: nginx, worker_processes 1", fmt(m.nginx1), detail(m.nginx1)],
        ["ratio raas/nginx, 1 worker each", ratio(m.raas1, m.nginx1), ""],
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
