// Benchmark: re-push of an unchanged 50-layer image. The second push must upload nothing and
// make no commit; what it costs is reading the archive, one HEAD per blob and the git round
// trip. Time is the whole command; requests are the S3 calls it logged with --log debug.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runIfMain } from "./lib/report.mjs";
import { startS3rverProcess, writeS3RaasConfig } from "./lib/s3.mjs";
import { median, mustSucceed, raas } from "./lib/raas-cli.mjs";
import { buildOciArchive } from "./lib/sample-image.mjs";

const layers = 50;
const runs = Number(process.env.BENCH_RUNS ?? 3);
const compareRoot = process.env.BENCH_COMPARE_ROOT;

export async function benchRepush() {
  const work = mkdtempSync(path.join(tmpdir(), "raas-bench-repush-"));
  const s3 = await startS3rverProcess(path.join(work, "s3"), ["bench"]);
  try {
    const archive = path.join(work, "image.tar");
    await buildOciArchive(archive, { name: "bench/fifty", tag: "1.0", layers, layerSize: 256 * 1024 });
    writeS3RaasConfig(work, { endpoint: s3.endpoint, sections: ["[bench]", "s3_bucket = bench"] });
    const cfg = ["--config", path.join(work, "raas.cfg")];
    mustSucceed("raas setup", raas([...cfg, "setup", "bench", "--no-start"], { cwd: work }));
    const first = mustSucceed(
      "first push",
      raas([...cfg, "push", "bench", archive, "--no-wait", "--log", "debug"], { cwd: work }),
    );
    const again = [];
    for (let i = 0; i < runs; i++) {
      again.push(
        mustSucceed(
          "re-push",
          raas([...cfg, "push", "bench", archive, "--no-wait", "--log", "debug", "--json"], { cwd: work }),
        ),
      );
    }
    // Another checkout (BENCH_COMPARE_ROOT), re-pushing the same unchanged image in the same rounds.
    const other = [];
    for (let i = 0; compareRoot !== undefined && i < runs; i++) {
      other.push(
        mustSucceed(
          "re-push (BENCH_COMPARE_ROOT)",
          raas([...cfg, "push", "bench", archive, "--no-wait", "--log", "debug", "--json"], {
            cwd: work,
            from: compareRoot,
          }),
        ),
      );
    }
    const last = again[again.length - 1];
    const result = JSON.parse(last.stdout);
    if (result.images[0].counts.uploaded !== 0 || result.commit !== undefined) {
      throw new Error(`re-push uploaded or committed something: ${last.stdout}`);
    }
    const calls = (run) => Object.values(run.s3Calls).reduce((a, b) => a + b, 0);
    const detail = (run) =>
      Object.entries(run.s3Calls)
        .map(([op, n]) => `${n} ${op}`)
        .join(", ");
    return {
      title: `re-push of an unchanged ${layers}-layer image (${layers} x 256 KiB) to s3rver, ${runs} runs`,
      rows: [
        [
          "first push (whole command)",
          `${first.seconds.toFixed(2)} s`,
          `${calls(first)} S3 calls: ${detail(first)}`,
        ],
        [
          "re-push (whole command)",
          `${median(again.map((r) => r.seconds)).toFixed(2)} s`,
          `${calls(last)} S3 calls: ${detail(last)}; 0 uploaded, no commit`,
        ],
        ...(other.length === 0
          ? []
          : [
              [
                "re-push, BENCH_COMPARE_ROOT",
                `${median(other.map((r) => r.seconds)).toFixed(2)} s`,
                `${calls(other[other.length - 1])} S3 calls: ${detail(other[other.length - 1])}; ` +
                  `speed-up of this raas ${(median(other.map((r) => r.seconds)) / median(again.map((r) => r.seconds))).toFixed(2)}x`,
              ],
            ]),
      ],
    };
  } finally {
    s3.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, benchRepush);
