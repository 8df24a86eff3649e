// Benchmark: `raas push` of a large multi-layer OCI archive to a real S3-protocol server on
// loopback, against a plain parallel multipart upload of the same blob bytes to the same
// endpoint, measured in the same run and alternated (A B A B ...) so machine noise hits both.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runIfMain } from "./lib/report.mjs";
import { nodeArgs } from "./lib/raas-cli.mjs";
import { startS3rverProcess, writeS3RaasConfig } from "./lib/s3.mjs";
import { buildOciArchive } from "./lib/sample-image.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const layers = Number(process.env.BENCH_LAYERS ?? 8);
const layerMiB = Number(process.env.BENCH_LAYER_MIB ?? 128);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const partMiB = Number(process.env.BENCH_PART_MIB ?? 16);
const partsInFlight = 4;
const blobsInFlight = 3;
// raas bounds parts in flight per push (memory = concurrency x part size), by default 4; the
// baseline runs blobsInFlight uploads of partsInFlight parts each. BENCH_RAAS_CONCURRENCY=12
// gives raas the baseline's total parallelism (measured: +0.03 in the ratio, +30 MiB RSS).
const raasConcurrency = Number(process.env.BENCH_RAAS_CONCURRENCY ?? partsInFlight);
// Another raas checkout (built), e.g. the previous release, pushed in the same rounds: prints
// its figures and the ratio of this one to it, under the same machine load.
const compareRoot = process.env.BENCH_COMPARE_ROOT;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (n) => n / 1024 / 1024;

export async function benchPush() {
  const work = mkdtempSync(path.join(tmpdir(), "raas-bench-push-"));
  const s3 = await startS3rverProcess(path.join(work, "s3"), ["bench"]);
  try {
    const { endpoint } = s3;
    process.stderr.write(`building a ${layers} x ${layerMiB} MiB OCI archive...\n`);
    const archive = path.join(work, "image.tar");
    const built = await buildOciArchive(archive, {
      name: "bench/app",
      tag: "1.0",
      layers,
      layerSize: layerMiB << 20,
    });
    const totalBytes = built.blobs.reduce((s, b) => s + b.size, 0);

    const cfg = writeS3RaasConfig(work, {
      endpoint,
      s3: ["force_path_style = true", `part_size = ${partMiB}MiB`, `concurrency = ${raasConcurrency}`],
      sections: ["[bench]", "s3_bucket = bench"],
    });
    const raas = (args, from = root) =>
      spawnSync(
        "/usr/bin/time",
        [
          "-f",
          "RSS_KIB=%M",
          process.execPath,
          ...nodeArgs,
          path.join(from, "bin", "raas.js"),
          "--config",
          cfg,
          ...args,
        ],
        {
          encoding: "utf8",
          cwd: work,
        },
      );
    const setup = raas(["setup", "bench", "--no-start"]);
    if (setup.status !== 0) throw new Error(`raas setup failed:\n${setup.stdout}\n${setup.stderr}`);
    /** One timed push of the whole archive under a fresh name; returns seconds and peak RSS. */
    const timedPush = (name, from) => {
      const t0 = process.hrtime.bigint();
      const push = raas(["push", "bench", archive, "--name", name, "--no-wait", "--json"], from);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (push.status !== 0) throw new Error(`raas push failed:\n${push.stdout}\n${push.stderr}`);
      const uploaded = JSON.parse(push.stdout).images[0].uploadedBytes;
      if (uploaded !== totalBytes) throw new Error(`raas uploaded ${uploaded} bytes, expected ${totalBytes}`);
      return { seconds, rss: Number(/RSS_KIB=(\d+)/.exec(push.stderr)?.[1] ?? NaN) * 1024 };
    };

    const rows = { raas: [], baseline: [], rss: [], compare: [], compareRss: [] };
    for (let i = 0; i < runs; i++) {
      const pushed = timedPush(`bench/run${i}`, root);
      rows.raas.push(pushed.seconds);
      rows.rss.push(pushed.rss);

      const base = spawnSync(
        process.execPath,
        [
          path.join(here, "lib", "baseline-upload.mjs"),
          endpoint,
          "bench",
          `baseline${i}`,
          built.blobsDir,
          String(partMiB),
          String(partsInFlight),
          String(blobsInFlight),
        ],
        { encoding: "utf8" },
      );
      if (base.status !== 0) throw new Error(`baseline failed:\n${base.stderr}`);
      rows.baseline.push(JSON.parse(base.stdout).seconds);
      if (compareRoot !== undefined) {
        const other = timedPush(`bench/other${i}`, compareRoot);
        rows.compare.push(other.seconds);
        rows.compareRss.push(other.rss);
      }
    }
    const raasRate = mib(totalBytes) / median(rows.raas);
    const baseRate = mib(totalBytes) / median(rows.baseline);
    const ratios = rows.raas.map((s, i) => rows.baseline[i] / s);
    return {
      title: `push ${layers} x ${layerMiB} MiB OCI archive (${mib(totalBytes).toFixed(0)} MiB) to s3rver, ${runs} runs`,
      rows: [
        ["raas push (whole command)", `${median(rows.raas).toFixed(2)} s`, `${raasRate.toFixed(1)} MiB/s`],
        [
          "plain multipart upload (baseline)",
          `${median(rows.baseline).toFixed(2)} s`,
          `${baseRate.toFixed(1)} MiB/s`,
        ],
        [
          "throughput ratio raas/baseline (median of pairs)",
          `${median(ratios).toFixed(2)}x`,
          `min ${Math.min(...ratios).toFixed(2)} max ${Math.max(...ratios).toFixed(2)}`,
        ],
        [
          "raas peak RSS (highest of the runs)",
          `${mib(Math.max(...rows.rss)).toFixed(0)} MiB`,
          `runs ${rows.rss.map((r) => mib(r).toFixed(0)).join(" ")} MiB`,
        ],
        ...(compareRoot === undefined
          ? []
          : [
              [
                "BENCH_COMPARE_ROOT raas push",
                `${median(rows.compare).toFixed(2)} s`,
                `ratio to baseline (median of pairs) ${median(rows.compare.map((s, i) => rows.baseline[i] / s)).toFixed(2)}x`,
              ],
              [
                "speed-up of this raas over BENCH_COMPARE_ROOT",
                `${median(rows.compare.map((s, i) => s / rows.raas[i])).toFixed(2)}x`,
                "median of pairs",
              ],
              [
                "BENCH_COMPARE_ROOT raas peak RSS (highest of the runs)",
                `${mib(Math.max(...rows.compareRss)).toFixed(0)} MiB`,
                `runs ${rows.compareRss.map((r) => mib(r).toFixed(0)).join(" ")} MiB`,
              ],
            ]),
      ],
    };
  } finally {
    s3.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, benchPush);
