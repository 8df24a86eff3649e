import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startS3rverProcess, writeS3RaasConfig } from "./lib/s3.mjs";
import { buildOciArchive } from "./lib/sample-image.mjs";
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const work = mkdtempSync(path.join(tmpdir(), "raas-prof-"));
const s3 = await startS3rverProcess(path.join(work, "s3"), ["bench"]);
try {
  const archive = path.join(work, "image.tar");
  await buildOciArchive(archive, { name: "bench/app", tag: "1.0", layers: 4, layerSize: 128 << 20 });
  const cfg = writeS3RaasConfig(work, { endpoint: s3.endpoint, s3: ["force_path_style = true", "part_size = 16MiB", "concurrency = 4"], sections: ["[bench]", "s3_bucket = bench"] });
  const run = (args, extra = []) => spawnSync(process.execPath, [...extra, path.join(root, "bin", "raas.js"), "--config", cfg, ...args], { encoding: "utf8", cwd: work });
  console.log(run(["setup", "bench", "--no-start"]).status);
  const t0 = Date.now();
  const r = run(["push", "bench", archive, "--name", "bench/p", "--no-wait", "--json"], ["--cpu-prof", "--cpu-prof-dir", process.argv[2]]);
  console.log(r.status, (Date.now() - t0) / 1000, r.stderr.slice(-500));
} finally { s3.stop(); rmSync(work, { recursive: true, force: true }); }
