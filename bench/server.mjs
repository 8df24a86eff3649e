// Benchmark: the raas registry server against distribution (Debian `docker-registry`, the
// reference registry) and a static nginx (the ceiling), all on loopback, in the same run, with
// the same image: manifest GET by tag, and blob GET answered with a redirect. wrk, 64
// connections, BENCH_SECONDS (default 10) per measurement. See bench/README.md.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runIfMain } from "./lib/report.mjs";
import { freePort, startProcess, waitFor, wrk } from "./lib/procs.mjs";
import { writeRegistryApp } from "./lib/registry-app.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const S2 = "application/vnd.docker.distribution.manifest.v2+json";

function startRaas(work, conf, label) {
  return freePort().then(async (port) => {
    const proc = startProcess(
      process.execPath,
      [
        path.join(root, "dist", "server-bundle", "main.js"),
        "--config",
        conf,
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
      ],
      path.join(work, `${label}.log`),
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

async function startNginx(work, manifest) {
  const port = await freePort();
  const prefix = path.join(work, "nginx");
  const www = path.join(prefix, "www");
  mkdirSync(www, { recursive: true });
  writeFileSync(path.join(www, "manifest"), manifest);
  const conf = path.join(prefix, "nginx.conf");
  const temp = (name) => `${name}_temp_path ${path.join(prefix, name)};`;
  writeFileSync(
    conf,
    [
      "daemon off;",
      "worker_processes auto;",
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
  const proc = startProcess("/usr/sbin/nginx", ["-p", prefix, "-c", conf], path.join(work, "nginx.out"));
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

export async function benchServer() {
  const work = mkdtempSync(path.join(tmpdir(), "raas-bench-server-"));
  // nginx workers run as an unprivileged user when started by root: they must reach www/.
  chmodSync(work, 0o755);
  const running = [];
  try {
    const app = await writeRegistryApp(path.join(work, "app"));
    const serve = await startRaas(work, app.serveConf, "raas-serve");
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
    const raas = await startRaas(work, app.redirectConf, "raas-redirect");
    running.push(raas);
    const nginx = await startNginx(work, app.manifest);
    running.push(nginx);

    const accept = { Accept: S2 };
    const manifestPath = `/v2/${app.name}/manifests/latest`;
    const blobPath = `/v2/${app.name}/blobs/${app.blobDigest}`;
    await check(raas.url + manifestPath, accept, 200, app.digest);
    await check(dist.url + manifestPath, accept, 200, app.digest);
    await check(raas.url + blobPath, {}, 307);
    await check(dist.url + blobPath, {}, 307);
    await check(`${nginx.url}/manifest`, {}, 200);

    // Warm every target first (JIT, caches, connection pools), unrecorded.
    for (const [url, headers] of [
      [raas.url + manifestPath, accept],
      [dist.url + manifestPath, accept],
      [`${nginx.url}/manifest`, accept],
      [raas.url + blobPath, {}],
      [dist.url + blobPath, {}],
    ]) {
      wrk(url, { seconds: 2, connections, headers });
    }
    const opts = { seconds, connections, headers: accept };
    const m = {
      raas: wrk(raas.url + manifestPath, opts),
      dist: wrk(dist.url + manifestPath, opts),
      nginx: wrk(`${nginx.url}/manifest`, opts),
    };
    const b = {
      raas: wrk(raas.url + blobPath, { seconds, connections }),
      dist: wrk(dist.url + blobPath, { seconds, connections }),
    };
    const ratio = (a, c) => `${(a.rps / c.rps).toFixed(2)}x`;
    return {
      title: `registry server: ${connections} connections, ${seconds} s each (wrk), manifest ${app.manifest.length} bytes`,
      rows: [
        ["manifest GET: raas", fmt(m.raas), detail(m.raas)],
        ["manifest GET: distribution 2.8", fmt(m.dist), detail(m.dist)],
        ["manifest GET: nginx static file (ceiling)", fmt(m.nginx), detail(m.nginx)],
        ["manifest GET ratio raas/distribution (target >= 10x)", ratio(m.raas, m.dist), ""],
        ["manifest GET ratio raas/nginx (target >= 0.5x)", ratio(m.raas, m.nginx), ""],
        ["blob GET (307 redirect): raas", fmt(b.raas), detail(b.raas)],
        ["blob GET (307 redirect): distribution 2.8", fmt(b.dist), detail(b.dist)],
        ["blob GET ratio raas/distribution", ratio(b.raas, b.dist), ""],
      ],
    };
  } finally {
    for (const proc of running.reverse()) await proc.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, benchServer, { label: 54, value: 14 });
