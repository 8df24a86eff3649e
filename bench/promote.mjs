// Benchmark: promotion of an image with N layers between lifecycle environments on S3 (s3rver
// in its own process), against the baseline of pushing the same image again into the target.
// Three ways, in one run and on one store service:
//   * shared store: test and prod share a bucket; the promotion writes the tag's objects and
//     one metadata commit (no blob bytes move);
//   * buckets of their own: prod has its own bucket; blobs are copied server-side (CopyObject);
//   * re-push (baseline): `raas push --env prod` of the same archive into an empty bucket.
// Each row is one `raas` process (bin/raas.js), timed as a whole (--no-wait: deploys, not the
// registry's pickup, are included); S3 calls come from its `--log debug` lines. Every promoted
// tag is checked to be served by the target registry with the source's digest.
// BENCH_PROMOTE_LAYERS (default 16) and BENCH_PROMOTE_LAYER_MIB (default 4) size the image;
// 64 x 16 MiB is the 1 GiB image of the issue.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { runIfMain } from "./lib/report.mjs";
import { mustSucceed, raas } from "./lib/raas-cli.mjs";
import { startS3rverProcess, writeS3RaasConfig } from "./lib/s3.mjs";
import { buildOciArchive } from "./lib/sample-image.mjs";

const LAYERS = Number(process.env.BENCH_PROMOTE_LAYERS ?? 16);
const LAYER_MIB = Number(process.env.BENCH_PROMOTE_LAYER_MIB ?? 4);

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");

async function servedDigest(appUrl, name, tag) {
  const response = await fetch(`${appUrl}/v2/${name}/manifests/${tag}`, {
    method: "HEAD",
    headers: { Accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  return response.headers.get("docker-content-digest");
}

export async function benchPromote() {
  const loadBefore = load();
  const work = mkdtempSync(path.join(tmpdir(), "raas-bench-promote-"));
  const s3 = await startS3rverProcess(path.join(work, "s3"), [
    "bp-shared",
    "bp-own",
    "bp-repush-test",
    "bp-repush",
  ]);
  const cwd = work;
  try {
    writeS3RaasConfig(work, {
      endpoint: s3.endpoint,
      s3: ["redirect = public", "public_read = true"],
      sections: [
        "[bp]",
        "s3_bucket = bp-shared",
        "environments = test prod own",
        "[bp.own]",
        "s3_bucket = bp-own",
        "[bprepush]",
        "s3_bucket = bp-repush-test",
        "environments = test prod",
        "[bprepush.prod]",
        "s3_bucket = bp-repush",
      ],
    });
    // Plain HTTP: the figures are about promotion, and the checks below fetch without raas's CA.
    const env = { RAAS_TLS: "off" };
    const run = (what, ...args) => mustSucceed(what, raas([...args, "--log", "debug"], { cwd, env }));
    run("setup bp", "setup", "bp");
    run("setup bprepush prod", "setup", "bprepush", "--env", "prod");
    const archive = path.join(work, "image.tar");
    await buildOciArchive(archive, {
      name: "bench/app",
      tag: "1.0",
      layers: LAYERS,
      layerSize: LAYER_MIB * 1024 * 1024,
    });
    const pushed = JSON.parse(run("push to test", "push", "bp", archive, "--env", "test", "--json").stdout);
    const digest = pushed.images[0].digest;
    const bytes = pushed.images[0].uploadedBytes;

    const promote = (to) => {
      const r = run(
        `promote to ${to}`,
        "promote",
        "bp",
        "bench/app:1.0",
        "--from",
        "test",
        "--to",
        to,
        "--no-wait",
        "--json",
      );
      return { ...r, result: JSON.parse(r.stdout) };
    };
    const shared = promote("prod");
    const own = promote("own");
    const repush = run("re-push", "push", "bprepush", archive, "--env", "prod", "--no-wait", "--json");
    const repushed = JSON.parse(repush.stdout).images[0];

    // Every target serves the promoted tag with the source's digest.
    const state = JSON.parse(run("status", "status", "bp", "--env", "prod", "--json").stdout);
    for (const env of ["prod", "own"]) {
      const url = JSON.parse(run(`status ${env}`, "status", "bp", "--env", env, "--json").stdout).appUrl;
      for (let i = 0; i < 50; i++) {
        if ((await servedDigest(url, "bench/app", "1.0")) === digest) break;
        if (i === 49) throw new Error(`${env} does not serve bench/app:1.0 as ${digest}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    if (repushed.digest !== digest || state.ok !== true) throw new Error("re-push or status disagree");

    const calls = (r) =>
      Object.entries(r.s3Calls)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([op, n]) => `${op} ${n}`)
        .join(", ");
    // The fixed cost of any raas process on this machine (start, load modules, read the config).
    const floor = [1, 2, 3].map(() => raas(["--version"], { cwd }).seconds).sort((a, b) => a - b)[1];
    const mib = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    const ratio = (r) => `${(repush.seconds / r.seconds).toFixed(1)}x faster than re-push`;
    return {
      title:
        `promotion of ${LAYERS} layers x ${LAYER_MIB} MiB (${mib(bytes)}), S3 = s3rver on loopback\n` +
        `  machine: nproc ${cpus().length}, Node ${process.version}; load average ${loadBefore} before, ${load()} after; ${new Date().toISOString()}`,
      rows: [
        [
          "promote, shared store",
          `${shared.seconds.toFixed(2)} s`,
          `${mib(shared.result.blobs.copiedBytes)} copied, ${ratio(shared)}; S3: ${calls(shared)}`,
        ],
        [
          "promote, buckets of their own (server-side)",
          `${own.seconds.toFixed(2)} s`,
          `${mib(own.result.blobs.copiedBytes)} copied in S3, ${ratio(own)}; S3: ${calls(own)}`,
        ],
        [
          "raas --version (process floor, median of 3)",
          `${floor.toFixed(2)} s`,
          "what every row above includes",
        ],
        [
          "re-push into an empty bucket (baseline)",
          `${repush.seconds.toFixed(2)} s`,
          `${mib(repushed.uploadedBytes)} uploaded through raas; S3: ${calls(repush)}`,
        ],
      ],
    };
  } finally {
    stopServers(work);
    s3.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** Stop the registry servers setup started (their pid files under the state directory). */
function stopServers(work) {
  const state = path.join(work, "state");
  for (const dir of ["bp.test", "bp.prod", "bp.own", "bprepush.prod"]) {
    try {
      const pid = Number(readFileSync(path.join(state, dir, "server.pid"), "utf8").trim());
      process.kill(pid, "SIGTERM");
    } catch {
      // never started, or already gone
    }
  }
}

await runIfMain(import.meta.url, benchPromote, { label: 44, value: 10 });
