// Benchmark: `raas status` over 1,000 repositories holding 10,000 blobs on local storage. The
// metadata (Crane v4, written with raas's own serializer), the manifests and every blob are
// generated directly rather than pushed one by one, then committed to the app repository.
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runIfMain } from "./lib/report.mjs";
import { mustSucceed, raas } from "./lib/raas-cli.mjs";
import { root } from "./lib/raas-cli.mjs";

const repos = Number(process.env.BENCH_STATUS_REPOS ?? 1000);
const blobsPerRepo = 10;
const { applyPublication } = await import(path.join(root, "dist", "crane", "publication.js"));
const { serializeMetadata } = await import(path.join(root, "dist", "crane", "serialize.js"));

const sha256 = (bytes) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const git = (cwd, args) => {
  const run = spawnSync("git", args, { cwd, encoding: "utf8" });
  if (run.status !== 0) throw new Error(`git ${args.join(" ")}: ${run.stderr}`);
  return run.stdout;
};

function put(file, bytes) {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, bytes);
}

export async function benchStatus() {
  const work = mkdtempSync(path.join(tmpdir(), "raas-bench-status-"));
  const env = {
    HOME: path.join(work, "home"),
    RAAS_HOME: path.join(work, "home", "raas"),
    GIT_AUTHOR_NAME: "bench",
    GIT_AUTHOR_EMAIL: "bench@raas.invalid",
    GIT_COMMITTER_NAME: "bench",
    GIT_COMMITTER_EMAIL: "bench@raas.invalid",
  };
  const state = path.join(work, "home", "raas", "bench");
  try {
    mustSucceed("raas setup", raas(["setup", "bench"], { cwd: work, env }));
    const storage = path.join(state, "storage");
    const clone = path.join(work, "clone");
    git(work, ["clone", "--quiet", path.join(state, "app.git"), clone]);
    const now = new Date("2024-01-01T00:00:00Z");
    for (let r = 0; r < repos; r++) {
      const name = `bench/app${r}`;
      const repository = name.replace("/", "-");
      const blobs = Array.from({ length: blobsPerRepo }, (_, i) =>
        i === 0 ? Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", n: r })) : randomBytes(64),
      );
      const descriptors = blobs.map((b) => ({ digest: sha256(b), size: b.length }));
      for (const [i, b] of blobs.entries()) {
        put(path.join(storage, repository, "blobs", descriptors[i].digest), b);
      }
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: { mediaType: "application/vnd.oci.image.config.v1+json", ...descriptors[0] },
          layers: descriptors
            .slice(1)
            .map((d) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", ...d })),
        }),
      );
      const digest = sha256(manifest);
      const mediaType = "application/vnd.oci.image.manifest.v1+json";
      put(path.join(storage, repository, "manifests", "2", digest), manifest);
      put(path.join(storage, repository, "manifests", "2", "1.0"), manifest);
      put(path.join(storage, repository, "tags", "list"), JSON.stringify({ name, tags: ["1.0"] }));
      put(path.join(clone, "manifests", repository, digest), manifest);
      const meta = applyPublication(
        undefined,
        {
          name,
          repository,
          url: `file://${path.join(storage, repository)}/`,
          manifests: [{ digest, mediaType, size: manifest.length, refs: descriptors.map((d) => d.digest) }],
          blobs: descriptors.map((d, i) => ({
            ...d,
            mediaType:
              i === 0 ? "application/vnd.oci.image.config.v1+json" : "application/vnd.oci.image.layer.v1.tar",
          })),
          tags: { "1.0": digest },
        },
        now,
      );
      put(path.join(clone, "data", `bench-${repository}.json`), serializeMetadata(meta));
    }
    git(clone, ["add", "--all"]);
    git(clone, ["commit", "--quiet", "-m", `bench: ${repos} repositories`]);
    git(clone, ["push", "--quiet", "origin", "HEAD:refs/heads/main"]);
    // Let the registry load the new metadata before status asks it.
    await new Promise((r) => setTimeout(r, 5000));

    const plain = raas(["status", "bench", "--json"], { cwd: work, env });
    const verify = raas(["status", "bench", "--json", "--verify"], { cwd: work, env });
    const ok = (run) => (run.status === 0 ? "clean" : `exit ${run.status}`);
    return {
      title: `raas status over ${repos} repositories / ${repos * blobsPerRepo} blobs (local storage)`,
      rows: [
        [
          "raas status",
          `${plain.seconds.toFixed(2)} s`,
          `${ok(plain)}, peak RSS ${(plain.rssBytes / 1048576).toFixed(0)} MiB`,
        ],
        [
          "raas status --verify (re-hash every blob)",
          `${verify.seconds.toFixed(2)} s`,
          `${ok(verify)}, peak RSS ${(verify.rssBytes / 1048576).toFixed(0)} MiB`,
        ],
      ],
    };
  } finally {
    const pid = Number(readFileSync(path.join(state, "server.pid"), "utf8").trim() || NaN);
    if (Number.isInteger(pid)) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // not running
      }
    }
    rmSync(work, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, benchStatus);
