// Benchmark: `raas status` at scale, on local storage with the registry running. Scenarios
// (BENCH_STATUS, default "1000x10,10000x10,1x20000"): <repositories>x<tags per repository>.
// Each tag is its own manifest (a config plus 9 layers shared by the repository's tags). The
// metadata (Crane v4, written with raas's own serializer), the manifests and every object are
// generated directly rather than pushed one by one, then committed to the app repository in one
// commit. The baseline, run on the same files in the same invocation, is the floor any status
// has to pay: list the storage directory once and read and parse every metadata file once.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runIfMain } from "./lib/report.mjs";
import { ociManifestBytes, OCI_MANIFEST as mediaType, sha256 } from "./lib/generated-repo.mjs";
import { benchEnv, cpuOf, mib, mustSucceed, raas, root } from "./lib/raas-cli.mjs";

const scenarios = (process.env.BENCH_STATUS ?? "1000x10,10000x10,1x20000").split(",").map((s) => {
  const [repos, tags] = s.split("x").map(Number);
  if (!(repos > 0 && tags > 0)) throw new Error(`BENCH_STATUS: ${s} is not <repositories>x<tags>`);
  return { repos, tags };
});
const layersPerRepo = 9;
// BENCH_KEEP=1: leave the generated files and the registry running afterwards (for profiling);
// the work directory and the registry's pid are printed.
const keep = process.env.BENCH_KEEP === "1";
// Another raas checkout (built), e.g. the previous release, run on the same files.
const compareRoot = process.env.BENCH_COMPARE_ROOT;
const { applyPublication } = await import(path.join(root, "dist", "crane", "publication.js"));
const { serializeMetadata } = await import(path.join(root, "dist", "crane", "serialize.js"));

const git = (cwd, args) => {
  const run = spawnSync("git", args, { cwd, encoding: "utf8", maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`git ${args.join(" ")}: ${run.stderr}`);
  return run.stdout;
};

const made = new Set();
function put(file, bytes) {
  const dir = path.dirname(file);
  if (!made.has(dir)) {
    mkdirSync(dir, { recursive: true });
    made.add(dir);
  }
  writeFileSync(file, bytes);
}

/** One repository: blobs, a manifest per tag, tag objects and tags/list in storage; metadata and manifests in the clone. */
function generateRepository({ storage, clone, name, tags, now }) {
  const repository = name.replace("/", "-");
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", name }));
  const blobs = [config, ...Array.from({ length: layersPerRepo }, () => randomBytes(64))];
  const descriptors = blobs.map((b) => ({ digest: sha256(b), size: b.length }));
  for (const [i, b] of blobs.entries()) {
    put(path.join(storage, repository, "blobs", descriptors[i].digest), b);
  }
  const manifests = [];
  const tagMap = {};
  const tagNames = Array.from({ length: tags }, (_, t) => `1.${t}`);
  for (const tag of tagNames) {
    const manifest = ociManifestBytes(descriptors, { "org.opencontainers.image.version": tag });
    const digest = sha256(manifest);
    put(path.join(storage, repository, "manifests", "2", digest), manifest);
    put(path.join(storage, repository, "manifests", "2", tag), manifest);
    put(path.join(clone, "manifests", repository, digest), manifest);
    manifests.push({ digest, mediaType, size: manifest.length, refs: descriptors.map((d) => d.digest) });
    tagMap[tag] = digest;
  }
  put(path.join(storage, repository, "tags", "list"), JSON.stringify({ name, tags: [...tagNames].sort() }));
  const meta = applyPublication(
    undefined,
    {
      name,
      repository,
      url: `file://${path.join(storage, repository)}/`,
      manifests,
      blobs: descriptors.map((d, i) => ({
        ...d,
        mediaType:
          i === 0 ? "application/vnd.oci.image.config.v1+json" : "application/vnd.oci.image.layer.v1.tar",
      })),
      tags: tagMap,
    },
    now,
  );
  put(path.join(clone, "data", `bench-${repository}.json`), serializeMetadata(meta));
}

async function waitServed(appUrl, name, tag) {
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    const answer = await fetch(`${appUrl}/v2/${name}/manifests/${tag}`, { method: "HEAD" }).catch(
      () => undefined,
    );
    if (answer?.status === 200) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`the registry did not serve ${name}:${tag} within 300 s`);
}

/** The floor: list storage once, read and parse every metadata file once; seconds and peak RSS. */
function floor(storage, clone) {
  const t0 = process.hrtime.bigint();
  const run = spawnSync(
    "/usr/bin/time",
    [
      "-f",
      "RSS_KIB=%M CPU_S=%U+%S",
      process.execPath,
      path.join(root, "bench", "lib", "status-floor.mjs"),
      storage,
      clone,
    ],
    { encoding: "utf8" },
  );
  if (run.status !== 0) throw new Error(`status floor failed: ${run.stderr}`);
  return {
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
    rssBytes: Number(/RSS_KIB=(\d+)/.exec(run.stderr)?.[1] ?? NaN) * 1024,
    cpuSeconds: cpuOf(run.stderr),
    detail: run.stdout.trim(),
  };
}

async function scenario({ repos, tags }) {
  const work = mkdtempSync(path.join(tmpdir(), "raas-bench-status-"));
  const env = benchEnv(work);
  const state = path.join(work, "home", "raas", "bench");
  made.clear();
  try {
    const setup = mustSucceed("raas setup", raas(["setup", "bench", "--json"], { cwd: work, env }));
    const appUrl = JSON.parse(setup.stdout).appUrl;
    const storage = path.join(state, "storage");
    const clone = path.join(work, "clone");
    git(work, ["clone", "--quiet", path.join(state, "app.git"), clone]);
    const now = new Date("2024-01-01T00:00:00Z");
    process.stderr.write(`generating ${repos} repositories x ${tags} tags...\n`);
    for (let r = 0; r < repos; r++) generateRepository({ storage, clone, name: `bench/app${r}`, tags, now });
    git(clone, ["add", "--all"]);
    git(clone, ["-c", "gc.auto=0", "commit", "--quiet", "-m", `bench: ${repos} repositories x ${tags} tags`]);
    git(clone, ["push", "--quiet", "origin", "HEAD:refs/heads/main"]);
    // Let the registry load the new metadata before status asks it.
    await waitServed(appUrl, `bench/app${repos - 1}`, `1.${tags - 1}`);

    const base = floor(storage, clone);
    const status = (from) => {
      const run = raas(["status", "bench", "--json"], {
        cwd: work,
        env,
        ...(from === undefined ? {} : { from }),
      });
      if (run.status !== 0) {
        throw new Error(`raas status failed (${run.status}): ${run.stdout.slice(0, 2000)}`);
      }
      return run;
    };
    const ours = status();
    const other = compareRoot === undefined ? undefined : status(compareRoot);
    const label = `${repos} x ${tags}`;
    const rss = (run) => `CPU ${run.cpuSeconds.toFixed(2)} s, peak RSS ${mib(run.rssBytes).toFixed(0)} MiB`;
    const rows = [
      [`status ${label}: raas status`, `${ours.seconds.toFixed(2)} s`, `clean, ${rss(ours)}`],
      [
        `status ${label}: baseline (list + parse once)`,
        `${base.seconds.toFixed(2)} s`,
        `${base.detail}, ${rss(base)}; raas/baseline ${(ours.seconds / base.seconds).toFixed(1)}x elapsed, ` +
          `${(ours.cpuSeconds / base.cpuSeconds).toFixed(1)}x CPU, ${(ours.rssBytes / base.rssBytes).toFixed(2)}x RSS`,
      ],
      ...(other === undefined
        ? []
        : [
            [
              `status ${label}: BENCH_COMPARE_ROOT`,
              `${other.seconds.toFixed(2)} s`,
              `${rss(other)}; this raas against it: ${(other.seconds / ours.seconds).toFixed(2)}x faster, ` +
                `${(ours.cpuSeconds / other.cpuSeconds).toFixed(2)}x the CPU, ${(ours.rssBytes / other.rssBytes).toFixed(2)}x the peak RSS`,
            ],
          ]),
    ];
    // Shown now: removing a few hundred thousand files afterwards takes a while.
    for (const row of rows) process.stderr.write(`${row.join("  ")}\n`);
    return rows;
  } finally {
    if (keep) {
      process.stderr.write(`kept ${work} (HOME=${env.HOME} RAAS_HOME=${env.RAAS_HOME} RAAS_TLS=off)\n`);
    } else {
      // No pid file when setup itself failed: do not hide its error.
      const pidFile = path.join(state, "server.pid");
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim() || NaN) : NaN;
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
}

export async function benchStatus() {
  const rows = [];
  for (const s of scenarios) rows.push(...(await scenario(s)));
  return {
    title: `raas status on local storage with the registry running (${scenarios.map((s) => `${s.repos} x ${s.tags}`).join(", ")} repositories x tags)`,
    rows,
  };
}

await runIfMain(import.meta.url, benchStatus);
