// s3rver in a process of its own (so it does not share an event loop with what is measured),
// and the raas.cfg that points raas at it.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** Start s3rver storing under `directory` with `buckets`; resolves once it listens. */
export async function startS3rverProcess(directory, buckets) {
  const child = spawn(process.execPath, [path.join(here, "s3rver-proc.mjs"), directory, ...buckets], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise((resolve, reject) => {
    child.stdout.once("data", (d) => resolve(Number(String(d).trim())));
    child.once("exit", (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, child, stop: () => child.kill("SIGTERM") };
}

/**
 * Write `<work>/raas.cfg` for S3 at `endpoint` (s3rver's only key pair), state under
 * `<work>/state`; `s3` lines go into [s3], `sections` (ISV sections) follow. Returns its path.
 */
export function writeS3RaasConfig(work, { endpoint, s3 = [], sections = [] }) {
  const file = path.join(work, "raas.cfg");
  writeFileSync(
    file,
    [
      "[raas]",
      "storage = s3",
      `state_dir = ${path.join(work, "state")}`,
      "[s3]",
      `endpoint = ${endpoint}`,
      ...s3,
      "[aws]",
      "aws_access_key = S3RVER",
      "aws_secret_access_key = S3RVER",
      ...sections,
      "",
    ].join("\n"),
  );
  return file;
}
