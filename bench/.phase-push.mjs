import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { startS3rverProcess, writeS3RaasConfig } from "./lib/s3.mjs";
import { buildOciArchive } from "./lib/sample-image.mjs";
const root = process.argv[2] ?? path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const work = mkdtempSync(path.join(tmpdir(), "raas-phase-"));
const s3 = await startS3rverProcess(path.join(work, "s3"), ["bench"]);
try {
  const archive = path.join(work, "image.tar");
  await buildOciArchive(archive, { name: "bench/app", tag: "1.0", layers: 4, layerSize: 64 << 20 });
  const cfg = writeS3RaasConfig(work, { endpoint: s3.endpoint, s3: ["force_path_style = true", "part_size = 16MiB", "concurrency = 4"], sections: ["[bench]", "s3_bucket = bench"] });
  spawnSync(process.execPath, [path.join(root, "bin", "raas.js"), "--config", cfg, "setup", "bench", "--no-start"]);
  const t0 = Date.now();
  const child = spawn(process.execPath, [path.join(root, "bin", "raas.js"), "--config", cfg, "push", "bench", archive, "--name", "bench/p", "--no-wait", "--log", "debug"], { cwd: work });
  let buf = "";
  const onData = (d) => { buf += d; let i; while ((i = buf.indexOf("\n")) >= 0) { const line = buf.slice(0, i); buf = buf.slice(i + 1); if (!/UploadPart /.test(line)) console.log(((Date.now() - t0) / 1000).toFixed(2), line.slice(0, 150)); } };
  child.stdout.on("data", onData); child.stderr.on("data", onData);
  await new Promise((r) => child.on("exit", r));
  console.log("total", (Date.now() - t0) / 1000);
} finally { s3.stop(); rmSync(work, { recursive: true, force: true }); }
