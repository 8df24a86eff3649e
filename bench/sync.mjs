// Benchmark: `raas sync` of 50 upstream tags of which 45 are unchanged, against Debian's
// docker-registry (distribution 2.8) on loopback behind a counting proxy. Baseline in the same
// run: the first sync of the 45 tags (everything transferred). Then 5 new tags are pushed
// upstream and the sync of all 50 is measured, then a sync with nothing changed.
// Requests and blob bytes are counted at the proxy; time is the whole command.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request } from "node:http";
import { createServer as netServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { runIfMain } from "./lib/report.mjs";
import { benchEnv, mustSucceed, root } from "./lib/raas-cli.mjs";
import { buildOciArchive } from "./lib/sample-image.mjs";

const TOTAL = Number(process.env.BENCH_TAGS ?? 50);
const CHANGED = Math.max(1, Math.round(TOTAL / 10));
const LAYER = 256 * 1024;

const freePort = () =>
  new Promise((resolve) => {
    const s = netServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function startRegistry(dir) {
  const port = await freePort();
  mkdirSync(path.join(dir, "storage"), { recursive: true });
  const config = path.join(dir, "config.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/storage\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn("/usr/bin/docker-registry", ["serve", config], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`http://127.0.0.1:${port}/v2/`).then(
        (r) => r.ok,
        () => false,
      )
    ) {
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host: `127.0.0.1:${port}`, stop: () => child.kill("SIGTERM") };
}

/** Forwards to the registry, counting requests by kind and blob bytes sent to the client. */
async function startCountingProxy(target) {
  const port = await freePort();
  const stats = { requests: 0, heads: 0, manifestGets: 0, blobGets: 0, blobBytes: 0, bytes: 0 };
  const server = createServer((req, res) => {
    stats.requests++;
    const blob = req.url.includes("/blobs/");
    if (req.method === "HEAD") stats.heads++;
    if (req.method === "GET" && req.url.includes("/manifests/")) stats.manifestGets++;
    if (req.method === "GET" && blob) stats.blobGets++;
    const up = request(`http://${target}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.on("data", (c) => {
        stats.bytes += c.length;
        if (blob) stats.blobBytes += c.length;
      });
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return {
    host: `127.0.0.1:${port}`,
    stats,
    reset: () => Object.keys(stats).forEach((k) => (stats[k] = 0)),
    stop: () => server.close(),
  };
}

/**
 * `raas <args>` as a child process without blocking this one: the counting proxy lives in this
 * process and must keep answering while raas runs (lib/raas-cli.mjs uses spawnSync).
 */
function raas(args, { cwd, env }) {
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [path.join(root, "bin", "raas.js"), ...args], {
    cwd,
    env: { ...process.env, CI: "true", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c) => (stdout += c));
  child.stderr.on("data", (c) => (stderr += c));
  return new Promise((resolve) =>
    child.on("close", (status) =>
      resolve({ status, stdout, stderr, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }),
    ),
  );
}

async function seed(work, host, first, count) {
  for (let i = first; i < first + count; i++) {
    const file = path.join(work, `img-${i}.tar`);
    await buildOciArchive(file, { name: "bench/mirror", tag: `t${i}`, layers: 2, layerSize: LAYER });
    execFileSync("skopeo", [
      "copy",
      "--dest-tls-verify=false",
      `oci-archive:${file}`,
      `docker://${host}/upstream-bench_mirror:t${i}`,
    ]);
    rmSync(file, { force: true });
  }
}

export async function benchSync() {
  const work = mkdtempSync(path.join(tmpdir(), "raas-bench-sync-"));
  const registry = await startRegistry(path.join(work, "upstream"));
  const proxy = await startCountingProxy(registry.host);
  const env = benchEnv(work);
  try {
    await seed(work, registry.host, 0, TOTAL - CHANGED);
    writeFileSync(
      path.join(work, "raas-sync.yaml"),
      `version: 1\nupstreams:\n  - registry: ${proxy.host}\n    tlsVerify: false\n    repositories:\n` +
        `      - source: upstream-bench_mirror\n        stripPrefix: "upstream-"\n        slash: "_"\n`,
    );
    mustSucceed("raas setup", await raas(["setup", "bench", "--no-start"], { cwd: work, env }));
    const sync = async (what) => {
      proxy.reset();
      const run = mustSucceed(what, await raas(["sync", "bench", "--no-wait", "--json"], { cwd: work, env }));
      const result = JSON.parse(run.stdout);
      const repo = result.repositories[0];
      return {
        run,
        stats: { ...proxy.stats },
        published: repo.published.length,
        unchanged: repo.unchanged.length,
      };
    };
    const row = (label, s) => [
      label,
      `${s.run.seconds.toFixed(2)} s`,
      `${s.published} published, ${s.unchanged} unchanged; ${s.stats.requests} requests (${s.stats.heads} HEAD, ` +
        `${s.stats.manifestGets} manifest GET, ${s.stats.blobGets} blob GET), ${(s.stats.blobBytes / 1048576).toFixed(2)} MiB of blobs`,
    ];
    const full = await sync("first sync");
    await seed(work, registry.host, TOTAL - CHANGED, CHANGED);
    const incremental = await sync("incremental sync");
    const idle = await sync("idle sync");
    if (
      incremental.unchanged !== TOTAL - CHANGED ||
      incremental.published !== CHANGED ||
      idle.stats.blobGets !== 0
    ) {
      throw new Error(`unexpected sync outcome: ${JSON.stringify({ incremental, idle })}`);
    }
    return {
      title:
        `sync of ${TOTAL} tags, ${TOTAL - CHANGED} unchanged (2 x 256 KiB layers per tag), distribution 2.8 on loopback; ` +
        `${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, load ${loadavg()
          .map((l) => l.toFixed(2))
          .join(" ")}, ` +
        `${new Date().toISOString()}`,
      rows: [
        row(`baseline: first sync of ${TOTAL - CHANGED} tags`, full),
        row(`sync of ${TOTAL}: ${TOTAL - CHANGED} unchanged + ${CHANGED} new`, incremental),
        row(`sync of ${TOTAL}, nothing changed`, idle),
        [
          "ratio incremental / baseline (time, blob bytes)",
          `${(incremental.run.seconds / full.run.seconds).toFixed(2)}x`,
          `${(incremental.stats.blobBytes / full.stats.blobBytes).toFixed(3)}x of the blob bytes`,
        ],
      ],
    };
  } finally {
    proxy.stop();
    registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, benchSync, { label: 52, value: 10 });
