// Benchmark: `raas push` (to s3rver) vs `skopeo copy` of the same OCI archive into the reference
// registry (Debian's docker-registry, distribution 2.8). The registry cannot use s3rver as its S3
// backend: its S3 driver calls ListMultipartUploads on every blob upload, which s3rver answers
// with 501 NotImplemented. It therefore stores on the local filesystem, which is faster than any
// S3 behind it could be, so the speed-up measured here is a lower bound.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { runIfMain } from "./lib/report.mjs";
import { startS3rverProcess, writeS3RaasConfig } from "./lib/s3.mjs";
import { raas, mustSucceed, median, mib } from "./lib/raas-cli.mjs";
import { buildOciArchive } from "./lib/sample-image.mjs";

const layers = Number(process.env.BENCH_SKOPEO_LAYERS ?? 4);
const layerMiB = Number(process.env.BENCH_SKOPEO_LAYER_MIB ?? 64);
const runs = Number(process.env.BENCH_RUNS ?? 3);

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitFor(url, seconds) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not come up`);
}

export async function benchPushVsSkopeo() {
  const work = mkdtempSync(path.join(tmpdir(), "raas-bench-skopeo-"));
  const children = [];
  try {
    const s3 = await startS3rverProcess(path.join(work, "s3"), ["raas"]);
    children.push(s3.child);
    const { endpoint } = s3;
    // One registry per run, each with empty storage: distribution links a blob it already
    // holds into a new repository, and skopeo's blob-info cache turns known blobs into
    // cross-repository mounts, either of which would skip the upload being measured.
    const startRegistry = async (run) => {
      const port = await freePort();
      const config = path.join(work, `registry-${run}.yml`);
      writeFileSync(
        config,
        [
          "version: 0.1",
          "log: { level: error }",
          "storage:",
          `  filesystem: { rootdirectory: ${path.join(work, `registry-${run}`)} }`,
          "  maintenance: { uploadpurging: { enabled: false } }",
          "http:",
          `  addr: 127.0.0.1:${port}`,
          "",
        ].join("\n"),
      );
      const child = spawn("/usr/bin/docker-registry", ["serve", config], { stdio: "ignore" });
      children.push(child);
      await waitFor(`http://127.0.0.1:${port}/v2/`, 20);
      return { port, child };
    };

    process.stderr.write(`building a ${layers} x ${layerMiB} MiB OCI archive...\n`);
    const archive = path.join(work, "image.tar");
    const built = await buildOciArchive(archive, {
      name: "bench/app",
      tag: "1.0",
      layers,
      layerSize: layerMiB << 20,
    });
    const totalBytes = built.blobs.reduce((s, b) => s + b.size, 0);
    writeS3RaasConfig(work, {
      endpoint,
      sections: [
        "[bench]",
        "s3_bucket = raas",
        // The same push onto local disk, the registry's own kind of storage here.
        "[benchdisk]",
        "storage = local",
      ],
    });
    const cfg = ["--config", path.join(work, "raas.cfg")];
    mustSucceed("raas setup", raas([...cfg, "setup", "bench", "--no-start"], { cwd: work }));
    mustSucceed("raas setup", raas([...cfg, "setup", "benchdisk", "--no-start"], { cwd: work }));

    const rows = { raas: [], disk: [], skopeo: [], rss: [] };
    for (let i = 0; i < runs; i++) {
      // Fresh repository names each time: neither side may skip blobs it already has.
      const push = mustSucceed(
        "raas push",
        raas([...cfg, "push", "bench", archive, "--name", `bench/run${i}`, "--no-wait"], { cwd: work }),
      );
      rows.raas.push(push.seconds);
      rows.rss.push(push.rssBytes);
      const disk = mustSucceed(
        "raas push (local storage)",
        raas([...cfg, "push", "benchdisk", archive, "--name", `bench/run${i}`, "--no-wait"], { cwd: work }),
      );
      rows.disk.push(disk.seconds);
      rows.rss.push(disk.rssBytes);
      const registry = await startRegistry(i);
      const t0 = process.hrtime.bigint();
      const copy = spawnSync(
        "skopeo",
        [
          "copy",
          "--dest-tls-verify=false",
          `oci-archive:${archive}`,
          `docker://127.0.0.1:${registry.port}/bench/run${i}:1.0`,
        ],
        { encoding: "utf8", env: { ...process.env, HOME: mkdtempSync(path.join(work, "home-")) } },
      );
      registry.child.kill("SIGTERM");
      if (copy.status !== 0) throw new Error(`skopeo copy failed:\n${copy.stderr}`);
      rows.skopeo.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    const ratios = rows.raas.map((s, i) => rows.skopeo[i] / s);
    const diskRatios = rows.disk.map((s, i) => rows.skopeo[i] / s);
    return {
      title: `push ${layers} x ${layerMiB} MiB OCI archive (${mib(totalBytes).toFixed(0)} MiB): raas -> s3rver vs skopeo copy -> docker-registry 2.8 (filesystem), ${runs} runs`,
      rows: [
        [
          "raas push (whole command)",
          `${median(rows.raas).toFixed(2)} s`,
          `${(mib(totalBytes) / median(rows.raas)).toFixed(1)} MiB/s`,
        ],
        [
          "skopeo copy -> docker-registry (local disk)",
          `${median(rows.skopeo).toFixed(2)} s`,
          `${(mib(totalBytes) / median(rows.skopeo)).toFixed(1)} MiB/s`,
        ],
        [
          "raas push to local storage (same disk)",
          `${median(rows.disk).toFixed(2)} s`,
          `${(mib(totalBytes) / median(rows.disk)).toFixed(1)} MiB/s`,
        ],
        [
          "speed-up raas (s3rver) vs skopeo (median of pairs)",
          `${median(ratios).toFixed(2)}x`,
          `min ${Math.min(...ratios).toFixed(2)} max ${Math.max(...ratios).toFixed(2)}`,
        ],
        [
          "speed-up raas (local disk) vs skopeo (median of pairs)",
          `${median(diskRatios).toFixed(2)}x`,
          `min ${Math.min(...diskRatios).toFixed(2)} max ${Math.max(...diskRatios).toFixed(2)}`,
        ],
        ["raas peak RSS", `${mib(Math.max(...rows.rss)).toFixed(0)} MiB`, ""],
      ],
    };
  } finally {
    for (const child of children.reverse()) child.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, benchPushVsSkopeo);
