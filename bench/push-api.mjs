// Benchmark: pushing through the registry's write API. `skopeo copy` of one OCI layout image
// (random layers) into raas (push API, local storage, unauthenticated_loopback, one worker) and
// into the reference registry (Debian's docker-registry, distribution 2.8, filesystem storage)
// in the same run, alternating, each into a fresh repository; the peak RSS of the raas server
// process (VmHWM) over the copies; then manifest PUTs per second with 8 concurrent clients, each
// PUT answered 201 only once its metadata commit is pushed to the app repository's remote.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, serverBundleArgs, startProcess, waitFor } from "./lib/procs.mjs";
import { runIfMain } from "./lib/report.mjs";
import { buildOciArchive } from "./lib/sample-image.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const layers = Number(process.env.BENCH_PUSH_API_LAYERS ?? 8);
const layerMiB = Number(process.env.BENCH_PUSH_API_LAYER_MIB ?? 128);
const runs = Number(process.env.BENCH_RUNS ?? 2);
const putClients = Number(process.env.BENCH_PUT_CLIENTS ?? 8);
const putSeconds = Number(process.env.BENCH_PUT_SECONDS ?? 10);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const sha = (b) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const git = (cwd, args) => {
  const r = spawnSync("git", args, { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${args[0]} failed: ${r.stderr}`);
  return r.stdout.trim();
};

/** A bare app repository with one commit (the registry commits its metadata there). */
function appRemote(work) {
  const remote = path.join(work, "app.git");
  git(work, ["init", "--quiet", "--bare", "--initial-branch=main", remote]);
  const seed = path.join(work, "app-seed");
  mkdirSync(path.join(seed, "data"), { recursive: true });
  writeFileSync(path.join(seed, "data", ".keep"), "");
  git(seed, ["init", "--quiet", "--initial-branch=main"]);
  git(seed, ["add", "--all"]);
  git(seed, [
    "-c",
    "user.name=bench",
    "-c",
    "user.email=bench@bench.invalid",
    "commit",
    "--quiet",
    "-m",
    "app",
  ]);
  git(seed, ["push", "--quiet", remote, "HEAD:refs/heads/main"]);
  return remote;
}

function peakRss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

let ticksPerSecond;
/**
 * CPU seconds (user, system) process `pid` has used, with its children it has waited for (the
 * git commands of raas's manifest PUT): a server's cost per MiB moves far less with the
 * machine's load than the copy's wall time does.
 */
function processCpu(pid) {
  ticksPerSecond ??= Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The fields after the command name (which may hold spaces): utime stime cutime cstime are 14-17.
  const f = text
    .slice(text.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number);
  return { user: (f[11] + f[13]) / ticksPerSecond, system: (f[12] + f[14]) / ticksPerSecond };
}

/** Runs `copy` and returns its wall time and the CPU `pid` used meanwhile. */
function measured(pid, copy) {
  const before = processCpu(pid);
  const seconds = copy();
  const after = processCpu(pid);
  return { seconds, user: after.user - before.user, system: after.system - before.system };
}

function skopeoCopy(src, dest, extra, home) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(
    "skopeo",
    ["copy", "--dest-tls-verify=false", "--retry-times", "0", ...extra, src, dest],
    {
      encoding: "utf8",
      env: { ...process.env, HOME: home },
    },
  );
  if (r.status !== 0) throw new Error(`skopeo copy to ${dest} failed:\n${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function benchPushApi() {
  const work = mkdtempSync(path.join(tmpdir(), "raas-bench-push-api-"));
  const procs = [];
  const loadBefore = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  try {
    // A fresh image (new random layers) per pair: skopeo's blob-info cache is per user, and for
    // root it is /var/lib/containers/cache whatever HOME is, so blobs it has seen before would be
    // mounted from an earlier run's repository instead of uploaded (distribution does that).
    const build = async (i) => {
      process.stderr.write(`building a ${layers} x ${layerMiB} MiB OCI layout (run ${i + 1})...\n`);
      const built = await buildOciArchive(path.join(work, `image-${i}.tar`), {
        name: "bench/app",
        tag: "1.0",
        layers,
        layerSize: layerMiB << 20,
      });
      rmSync(path.join(work, `image-${i}.tar`));
      return { layout: built.layout, source: `oci:${built.layout}:bench/app:1.0`, blobs: built.blobs };
    };
    let image = await build(0);
    const totalBytes = image.blobs.reduce((s, b) => s + b.size, 0);

    // raas: one worker (its pid is the server's), local storage, push API on loopback.
    const remote = appRemote(work);
    const store = path.join(work, "raas-store");
    mkdirSync(path.join(store, "v1"), { recursive: true });
    mkdirSync(path.join(store, "v2"), { recursive: true });
    mkdirSync(path.join(work, "data"), { recursive: true });
    const conf = path.join(work, "registry.conf");
    writeFileSync(
      conf,
      [
        "[general]",
        `data_dir = ${path.join(work, "data")}`,
        "[serve_content]",
        "enable = true",
        `content_dir_v1 = ${store}/v1`,
        `content_dir_v2 = ${store}/v2`,
        "[raas]",
        "isv = bench",
        "workers = 1",
        "[push]",
        "enable = true",
        "unauthenticated_loopback = true",
        `app_remote = ${remote}`,
        `clone_dir = ${path.join(work, "clones")}`,
        "",
      ].join("\n"),
    );
    const raasPort = await freePort();
    const raas = startProcess(
      process.execPath,
      serverBundleArgs(root, conf, raasPort),
      path.join(work, "raas.log"),
    );
    procs.push(raas);
    await waitFor(`http://127.0.0.1:${raasPort}/healthz`, { expect: 200, what: "raas" });

    const regPort = await freePort();
    const regConf = path.join(work, "registry.yml");
    writeFileSync(
      regConf,
      [
        "version: 0.1",
        "log: { level: error }",
        "storage:",
        `  filesystem: { rootdirectory: ${path.join(work, "distribution")} }`,
        "  maintenance: { uploadpurging: { enabled: false } }",
        "http:",
        `  addr: 127.0.0.1:${regPort}`,
        "",
      ].join("\n"),
    );
    const registry = startProcess(
      "/usr/bin/docker-registry",
      ["serve", regConf],
      path.join(work, "registry.log"),
    );
    procs.push(registry);
    await waitFor(`http://127.0.0.1:${regPort}/v2/`, { expect: 200, what: "docker-registry" });

    const copies = { raas: [], distribution: [] };
    for (let i = 0; i < runs; i++) {
      if (i > 0) image = await build(i);
      // A fresh HOME per copy (the cache of a non-root user lives there).
      const home = () => mkdtempSync(path.join(work, "home-"));
      copies.distribution.push(
        measured(registry.child.pid, () =>
          skopeoCopy(image.source, `docker://127.0.0.1:${regPort}/bench/run${i}:1.0`, [], home()),
        ),
      );
      copies.raas.push(
        measured(raas.child.pid, () =>
          skopeoCopy(
            image.source,
            `docker://127.0.0.1:${raasPort}/bench/run${i}:1.0`,
            ["--dest-creds", "bench:pw"],
            home(),
          ),
        ),
      );
      rmSync(image.layout, { recursive: true, force: true });
      // Both servers' copies of this run's blobs go too, so every pair writes into the same
      // amount of free memory (see "Free memory and the page cache" in bench/README.md).
      for (const stored of [path.join(store, "v2"), path.join(work, "distribution")]) {
        rmSync(stored, { recursive: true, force: true });
        mkdirSync(stored, { recursive: true });
      }
    }
    const times = {
      raas: copies.raas.map((c) => c.seconds),
      distribution: copies.distribution.map((c) => c.seconds),
    };
    const rss = peakRss(raas.child.pid);

    // Manifest PUTs: one image's blobs, then `putClients` clients PUT it under new tags.
    const auth = { Authorization: `Basic ${Buffer.from("bench:pw").toString("base64")}` };
    const base = `http://127.0.0.1:${raasPort}`;
    const config = Buffer.from(
      JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }),
    );
    const layer = Buffer.from("a small layer for manifest PUTs");
    for (const blob of [config, layer]) {
      const upload = () =>
        fetch(`${base}/v2/bench/puts/blobs/uploads/?digest=${sha(blob)}`, {
          method: "POST",
          body: blob,
          headers: auth,
        });
      // The readiness probe's keep-alive connection may have been closed by the server during
      // the long copies; fetch reports that as "other side closed": one retry on a new one.
      const res = await upload().catch(upload);
      if (res.status !== 201) throw new Error(`blob upload answered ${res.status}`);
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: {
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest: sha(config),
          size: config.length,
        },
        layers: [
          { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha(layer), size: layer.length },
        ],
      }),
    );
    const commitsBefore = Number(git(work, [`--git-dir=${remote}`, "rev-list", "--count", "main"]));
    const deadline = Date.now() + putSeconds * 1000;
    const t0 = process.hrtime.bigint();
    const counts = await Promise.all(
      Array.from({ length: putClients }, async (_, c) => {
        let n = 0;
        while (Date.now() < deadline) {
          const res = await fetch(`${base}/v2/bench/puts/manifests/c${c}-${n}`, {
            method: "PUT",
            body: manifest,
            headers: { ...auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
          });
          await res.arrayBuffer();
          if (res.status !== 201) throw new Error(`manifest PUT answered ${res.status}`);
          n += 1;
        }
        return n;
      }),
    );
    const putElapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    const puts = counts.reduce((a, b) => a + b, 0);
    const commits = Number(git(work, [`--git-dir=${remote}`, "rev-list", "--count", "main"])) - commitsBefore;
    // Every 201 is in git: the metadata file on the remote names every tag.
    const metadata = JSON.parse(
      git(work, [`--git-dir=${remote}`, "show", "main:data/bench-bench-puts.json"]),
    );
    const tags = Object.keys(metadata["x-raas"]?.tags ?? {});
    if (tags.length !== puts) throw new Error(`${puts} PUTs answered 201 but ${tags.length} tags are in git`);

    const ratios = times.raas.map((t, i) => times.distribution[i] / t);
    const mibTotal = totalBytes / 2 ** 20;
    // Server CPU (user + system) per MiB copied, in ms; the median run of each side.
    const cpuPerMiB = (c) => ((c.user + c.system) * 1000) / mibTotal;
    const cpuRow = (label, list) => {
      const perMiB = list.map(cpuPerMiB);
      const mid = list[perMiB.indexOf(median(perMiB))];
      return [
        label,
        `${median(perMiB).toFixed(2)} ms/MiB`,
        `user ${mid.user.toFixed(2)} s, system ${mid.system.toFixed(2)} s; runs ${perMiB.map((x) => x.toFixed(2)).join(" ")}`,
      ];
    };
    const cpuRatio = median(copies.distribution.map(cpuPerMiB)) / median(copies.raas.map(cpuPerMiB));
    const loadAfter = loadavg()
      .map((l) => l.toFixed(2))
      .join(" ");
    return {
      title:
        `push API: skopeo copy of ${layers} x ${layerMiB} MiB (${mibTotal.toFixed(0)} MiB) into raas (local storage) vs docker-registry 2.8 (filesystem), ${runs} runs\n` +
        `  load average ${loadBefore} before, ${loadAfter} after; ${new Date().toISOString()}`,
      rows: [
        [
          "skopeo copy -> raas push API",
          `${median(times.raas).toFixed(2)} s`,
          `${(mibTotal / median(times.raas)).toFixed(1)} MiB/s  runs ${times.raas.map((t) => t.toFixed(2)).join(" ")} s`,
        ],
        [
          "skopeo copy -> docker-registry 2.8",
          `${median(times.distribution).toFixed(2)} s`,
          `${(mibTotal / median(times.distribution)).toFixed(1)} MiB/s  runs ${times.distribution.map((t) => t.toFixed(2)).join(" ")} s`,
        ],
        [
          "raas vs distribution (median of pairs; target >= 1.0x)",
          `${median(ratios).toFixed(2)}x`,
          `min ${Math.min(...ratios).toFixed(2)} max ${Math.max(...ratios).toFixed(2)}`,
        ],
        cpuRow("raas server CPU per MiB copied (with its git)", copies.raas),
        cpuRow("docker-registry CPU per MiB copied", copies.distribution),
        [
          "CPU per MiB, distribution / raas (higher: raas cheaper)",
          `${cpuRatio.toFixed(2)}x`,
          "user + system of each server process during its copies",
        ],
        [
          "raas server peak RSS (VmHWM; target <= 200 MiB)",
          `${(rss / 2 ** 20).toFixed(0)} MiB`,
          "one worker, whole run",
        ],
        [
          `manifest PUTs/s, ${putClients} clients, durable in git`,
          `${(puts / putElapsed).toFixed(1)}/s`,
          `${puts} PUTs in ${putElapsed.toFixed(1)} s, ${commits} commits (group commit)`,
        ],
      ],
    };
  } catch (err) {
    // Keep what the servers said: the work directory is removed below.
    for (const log of ["raas.log", "registry.log"]) {
      try {
        process.stderr.write(
          `--- ${log} (end) ---\n${readFileSync(path.join(work, log), "utf8").slice(-4000)}\n`,
        );
      } catch {
        // not started
      }
    }
    throw err;
  } finally {
    for (const p of procs.reverse()) await p.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, benchPushApi, { label: 58 });
