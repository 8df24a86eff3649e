// Metadata at scale: the registry following its app repository from git ([metadata] follow)
// against the same registry polling a checkout (data_dir, today's default), in one run, and
// `raas push` of a small image into an app repository of that size.
//
// For each size (default 1,000 and 10,000 repositories, 10 tags each) it generates an app
// repository with `git fast-import`: HISTORY - 1 small commits (BENCH_HISTORY, default 10,000
// in all), then one commit of the Crane v4 + x-raas files written by the built dist/ code; a
// bare remote; then for each mode starts one server process (workers = 1) and measures:
//   ready      spawn to the first 200 from /readyz (the whole metadata loaded)
//   idle CPU   user+system CPU of the process over 10 s with nothing changing
//   new tag    a new repository's file committed and pushed (follow) or written (poll), to the
//              registry answering its tag; follow mode with and without POST /raas/notify
//   RSS        resident memory after the above, and its peak (VmHWM)
// Then an ISV is set up (local platform and storage, its registry following app.git), the same
// history and files are imported into its app repository, and a small image (2 layers of
// 64 KiB) is pushed with `raas push` under new names: the first push, then PUSHES more; for
// each the CLI's wall time and the time from its start to the registry serving the new tag.
// Usage: node bench/metadata-scale.mjs [repos ...]   e.g. node bench/metadata-scale.mjs 1000 10000
//        node bench/metadata-scale.mjs --fixture DIR repos   only generate the app repository and
//        both servers' config files in DIR and keep them (for profiling one server by hand)
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { freePort, serverBundleArgs } from "./lib/procs.mjs";
import { benchEnv, median, mustSucceed, raas } from "./lib/raas-cli.mjs";
import { buildOciArchive } from "./lib/sample-image.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = (p) => pathToFileURL(path.join(root, "dist", p)).href;
const { applyPublication } = await import(dist("crane/publication.js"));
const { serializeMetadata } = await import(dist("crane/serialize.js"));

const TAGS = 10;
// Commits of history under the generated metadata (BENCH_HISTORY; the figure is 10,000).
const HISTORY = Math.max(1, Number(process.env.BENCH_HISTORY ?? 10000));
const IDLE_SECONDS = 10;
// Timed pushes after the first (which fills raas's object cache of the app repository).
const PUSHES = 3;
// Another built raas checkout (e.g. the previous commit) whose `raas push` is timed in the same
// rounds, alternating with this one's, into the same app repository and registry.
const compareRoot = process.env.BENCH_COMPARE_ROOT;
const sha = (text) => `sha256:${createHash("sha256").update(text).digest("hex")}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const git = (cwd, ...args) =>
  execFileSync("git", args, {
    cwd,
    maxBuffer: 1 << 30,
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "bench",
      GIT_AUTHOR_EMAIL: "bench@example.invalid",
      GIT_COMMITTER_NAME: "bench",
      GIT_COMMITTER_EMAIL: "bench@example.invalid",
    },
  }).toString();

/** One repository's metadata: TAGS tags, each its own manifest of a config and a layer. */
function metadataFile(i) {
  const name = `acme/repo-${i}`;
  const repository = `acme-repo-${i}`;
  const manifests = [];
  const blobs = [];
  const tags = {};
  for (let t = 0; t < TAGS; t++) {
    const config = sha(`config ${i} ${t}`);
    const layer = sha(`layer ${i} ${t}`);
    const digest = sha(`manifest ${i} ${t}`);
    blobs.push({ digest: config, size: 1000 + t }, { digest: layer, size: 100000 + t });
    manifests.push({
      digest,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      size: 500 + t,
      refs: [config, layer],
    });
    tags[`v${t}`] = digest;
  }
  const meta = applyPublication(
    undefined,
    { name, repository, url: `http://127.0.0.1:9/bucket/${repository}/`, manifests, blobs, tags },
    new Date("2024-01-01T00:00:00Z"),
  );
  return { name, text: serializeMetadata(meta), digest: tags.v0 };
}

/**
 * A `git fast-import` stream onto `ref` of the repository `gitDir`: HISTORY - 1 small commits
 * (one line of history.txt each, as a long-lived app repository's earlier pushes), then one
 * commit writing `files` (path -> text) on top. `from`: the commit to start from, if any.
 */
function fastImport(gitDir, { files, from, message }) {
  const chunks = [];
  const text = (s) => chunks.push(Buffer.from(s));
  const data = (body) => {
    const bytes = Buffer.from(body);
    text(`data ${bytes.length}\n`);
    chunks.push(bytes, Buffer.from("\n"));
  };
  const start = Date.parse("2024-01-01T00:00:00Z") / 1000;
  for (let k = 1; k <= HISTORY; k++) {
    text(`commit refs/heads/main\ncommitter bench <bench@example.invalid> ${start + k * 60} +0000\n`);
    data(k < HISTORY ? `history ${k}` : message);
    if (k === 1 && from !== undefined) text(`from ${from}\n`);
    if (k < HISTORY) {
      text("M 100644 inline history.txt\n");
      data(`history ${k}\n`);
    } else {
      for (const [file, body] of files) {
        text(`M 100644 inline ${file}\n`);
        data(body);
      }
    }
  }
  text("done\n");
  const run = spawnSync("git", ["fast-import", "--quiet", "--done"], {
    cwd: gitDir,
    input: Buffer.concat(chunks),
    stdio: ["pipe", "ignore", "inherit"],
  });
  if (run.status !== 0) throw new Error(`git fast-import failed (${run.status})`);
}

/** Every repository's metadata file text, generated once per size for both app repositories. */
function metadataTexts(repos) {
  const texts = [];
  for (let i = 0; i < repos; i++) texts.push(metadataFile(i).text);
  return texts;
}

function generate(dir, repos, texts = metadataTexts(repos)) {
  const work = path.join(dir, "work");
  const remote = path.join(dir, "remote.git");
  git(dir, "init", "--quiet", "--bare", "-b", "main", remote);
  const files = texts.map((text, i) => [`data/acme-repo-${i}.json`, text]);
  files.push(["manifests/README", "manifests\n"]);
  fastImport(remote, { files, message: `${repos} repositories` });
  // The checkout the polling server reads and new repositories are committed from.
  git(dir, "clone", "--quiet", remote, work);
  return { work, remote };
}

function configFor(dir, mode, app) {
  const conf = path.join(dir, `${mode}.conf`);
  const lines = [
    "[general]",
    `data_dir = ${app.work}/data`,
    "data_dir_polling_interval = 2",
    "[raas]",
    `manifest_dir = ${app.work}/manifests`,
    "workers = 1",
    "access_log = false",
    "[storage]",
    "public_base_url = http://127.0.0.1:9/bucket",
  ];
  if (mode !== "poll") {
    lines.push(
      "[metadata]",
      `follow = ${app.remote}`,
      "follow_interval = 2",
      `follow_dir = ${dir}/${mode}-follow`,
    );
  }
  writeFileSync(conf, lines.join("\n") + "\n");
  return conf;
}

function procStat(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  return ticks / 100;
}
function procMemory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

async function until(check, ms) {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (await check().catch(() => false)) return performance.now() - started;
    await sleep(10);
  }
  return Number.NaN;
}

// Manifests are not in the app repository here, so a known tag is a redirect to storage.
const served = (url, name, tag) => () =>
  fetch(`${url}/v2/${name}/manifests/${tag}`, { method: "HEAD", redirect: "manual" }).then(
    (r) => r.status === 200 || r.status === 302 || r.status === 307,
  );

async function measure(dir, mode, app, next) {
  const port = await freePort();
  const conf = configFor(dir, mode, app);
  const started = performance.now();
  const child = spawn(process.execPath, serverBundleArgs(root, conf, port), {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    const readyMs = await until(() => fetch(`${url}/readyz`).then((r) => r.status === 200), 300_000);
    const ready = (performance.now() - started) / 1000;
    if (Number.isNaN(readyMs)) throw new Error(`${mode}: not ready`);
    await sleep(1000);
    const cpu0 = procStat(child.pid);
    await sleep(IDLE_SECONDS * 1000);
    const idle = ((procStat(child.pid) - cpu0) / IDLE_SECONDS) * 100;
    // A new repository lands: written into the checkout (poll) or committed and pushed (follow).
    const land = async (notify) => {
      const file = next();
      writeFileSync(path.join(app.work, "data", `acme-repo-${file.i}.json`), file.text);
      git(app.work, "add", "--all");
      git(app.work, "commit", "--quiet", "-m", `add ${file.name}`);
      git(app.work, "push", "--quiet", app.remote, "HEAD:main");
      const landed = performance.now();
      if (notify) await fetch(`${url}/raas/notify`, { method: "POST" });
      const ms = await until(served(url, file.name, "v0"), 120_000);
      return Number.isNaN(ms) ? Number.NaN : (performance.now() - landed) / 1000;
    };
    const newTag = await land(false);
    const newTagNotify = mode === "poll" ? undefined : await land(true);
    const memory = procMemory(child.pid);
    return { mode, ready, idle, newTag, newTagNotify, ...memory };
  } finally {
    child.kill("SIGKILL");
  }
}

/**
 * `raas push` of a small image into an ISV whose app repository holds `texts` on top of
 * HISTORY commits, with its local registry running (setup's, following the app repository):
 * the CLI's wall time, and the time from its start until the registry serves the new tag.
 * The first push fills raas's object cache of the app repository (the whole history); the
 * next PUSHES are what a publisher sees from then on.
 */
async function measurePush(dir, repos, texts) {
  const home = path.join(dir, "push");
  mkdirSync(home, { recursive: true });
  const env = benchEnv(home);
  const run = (what, args) => mustSucceed(what, raas(args, { cwd: home, env }));
  run("raas setup", ["setup", "bench", "--no-start"]);
  const isvDir = path.join(env.RAAS_HOME, "bench");
  const appGit = path.join(isvDir, "app.git");
  const files = texts.map((text, i) => [`data/bench-acme-repo-${i}.json`, text]);
  fastImport(appGit, {
    files,
    from: git(appGit, "rev-parse", "refs/heads/main").trim(),
    message: `${repos} repositories`,
  });
  // Setup again starts the registry (following app.git) on the ISV's port.
  run("raas setup (start)", ["setup", "bench"]);
  const { port } = JSON.parse(readFileSync(path.join(isvDir, "platform.json"), "utf8"));
  const url = `http://127.0.0.1:${port}`;
  try {
    // The generated manifests are in neither the app repository nor storage: a listed tag says
    // the metadata is loaded.
    const listed = () => fetch(`${url}/v2/acme/repo-${repos - 1}/tags/list`).then((r) => r.status === 200);
    if (Number.isNaN(await until(listed, 300_000))) {
      throw new Error("push: the registry never served the generated metadata");
    }
    const archive = path.join(home, "image.tar");
    await buildOciArchive(archive, { name: "acme/pushed", tag: "1.0", layers: 2, layerSize: 64 * 1024 });
    const timedPush = (name, from) => {
      const t0 = performance.now();
      const pushed = mustSucceed(
        `raas push ${name}`,
        raas(["push", "bench", archive, "--name", name, "--no-wait", "--json"], { cwd: home, env, from }),
      );
      if (JSON.parse(pushed.stdout).commit === undefined) throw new Error(`push ${name} committed nothing`);
      return until(served(url, name, "1.0"), 60_000).then((ms) => ({
        cli: pushed.seconds,
        served: Number.isNaN(ms) ? Number.NaN : (performance.now() - t0) / 1000,
        rss: pushed.rssBytes / 1024 / 1024,
      }));
    };
    const pushes = [];
    const compared = [];
    for (let k = 0; k <= PUSHES; k++) {
      pushes.push(await timedPush(`acme/pushed-${k}`, root));
      // The other checkout in the same rounds, after this one's first push filled the cache.
      if (compareRoot !== undefined && k > 0) compared.push(await timedPush(`acme/other-${k}`, compareRoot));
    }
    const floor = raas(["--version"], { cwd: home, env }).seconds;
    const commits = Number(git(appGit, "rev-list", "--count", "refs/heads/main").trim());
    const warm = pushes.slice(1);
    return {
      first: pushes[0],
      cli: median(warm.map((p) => p.cli)),
      served: median(warm.map((p) => p.served)),
      maxServed: Math.max(...warm.map((p) => p.served)),
      rss: Math.max(...warm.map((p) => p.rss)),
      floor,
      commits,
      ...(compared.length === 0
        ? {}
        : {
            compareCli: median(compared.map((p) => p.cli)),
            compareServed: median(compared.map((p) => p.served)),
          }),
    };
  } finally {
    try {
      process.kill(Number(readFileSync(path.join(isvDir, "server.pid"), "utf8").trim()), "SIGTERM");
    } catch {
      // never started, or already gone
    }
  }
}

async function benchSize(repos) {
  const dir = mkdtempSync(path.join(tmpdir(), "raas-bench-metadata-"));
  try {
    const t0 = performance.now();
    const texts = metadataTexts(repos);
    const app = generate(dir, repos, texts);
    const generated = (performance.now() - t0) / 1000;
    let counter = repos;
    const next = () => {
      const i = counter++;
      return { i, ...metadataFile(i) };
    };
    const poll = await measure(dir, "poll", app, next);
    const follow = await measure(dir, "follow", app, next);
    const push = await measurePush(dir, repos, texts);
    return { repos, tags: repos * TAGS, generated, poll, follow, push };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const f = (n, digits = 2) => (n === undefined ? "-" : Number.isNaN(n) ? "timeout" : n.toFixed(digits));
const ratio = (a, b) => (a === undefined || b === undefined || !(b > 0) ? "-" : `${(a / b).toFixed(2)}x`);

const fixtureAt = process.argv.indexOf("--fixture");
if (fixtureAt >= 0) {
  const dir = path.resolve(process.argv[fixtureAt + 1] ?? "");
  const repos = Number(process.argv[fixtureAt + 2] ?? 10000);
  mkdirSync(dir, { recursive: true });
  const app = generate(dir, repos);
  for (const mode of ["poll", "follow"]) console.log(configFor(dir, mode, app));
  process.exit(0);
}

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
console.log(`# metadata at scale ${new Date().toISOString()}`);
console.log(
  `# ${cpus().length} CPUs, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(
      " ",
    )}; one server process per mode (workers = 1), ${TAGS} tags per repository, ${HISTORY} commits of history`,
);
console.log("repos  tags    mode    ready s  idle CPU %  new tag s  +notify s  RSS MiB  peak MiB");
const pushRows = [];
for (const repos of sizes.length > 0 ? sizes : [1000, 10000]) {
  const r = await benchSize(repos);
  pushRows.push(r);
  for (const m of [r.poll, r.follow]) {
    console.log(
      [
        String(r.repos).padEnd(6),
        String(r.tags).padEnd(7),
        m.mode.padEnd(7),
        f(m.ready).padStart(8),
        f(m.idle, 1).padStart(11),
        f(m.newTag).padStart(10),
        f(m.newTagNotify).padStart(10),
        f(m.rss, 0).padStart(8),
        f(m.peak, 0).padStart(9),
      ].join(" "),
    );
  }
  console.log(
    `# ${r.repos} repositories (generated in ${f(r.generated, 1)} s): follow/poll ready ${ratio(r.follow.ready, r.poll.ready)}, idle CPU ${ratio(r.follow.idle, r.poll.idle)}, new tag ${ratio(r.follow.newTag, r.poll.newTag)}, peak RSS ${ratio(r.follow.peak, r.poll.peak)}`,
  );
}
// raas push of a small image (2 layers of 64 KiB) into the ISV's app repository, its local
// registry following it; target < 3 s end to end (push to tag served).
console.log("");
console.log(
  "repos  commits  first push s  served s  push s  served s  max served s  push RSS MiB  raas --version s",
);
for (const r of pushRows) {
  const p = r.push;
  console.log(
    [
      String(r.repos).padEnd(6),
      String(p.commits).padEnd(8),
      f(p.first.cli).padStart(12),
      f(p.first.served).padStart(9),
      f(p.cli).padStart(7),
      f(p.served).padStart(9),
      f(p.maxServed).padStart(13),
      f(p.rss, 0).padStart(13),
      f(p.floor).padStart(17),
    ].join(" "),
  );
}
for (const r of pushRows) {
  if (r.push.compareCli === undefined) continue;
  console.log(
    `# ${r.repos} repositories, BENCH_COMPARE_ROOT (${compareRoot}) in the same rounds: push ${f(r.push.compareCli)} s, served ${f(r.push.compareServed)} s; this/that push ${ratio(r.push.cli, r.push.compareCli)}, served ${ratio(r.push.served, r.push.compareServed)}`,
  );
}
console.log(
  `# push s / served s: median of ${PUSHES} pushes after the first (which fetches the whole history into raas's object cache); served: from the push's start until the registry answers the new tag`,
);
if (pushRows.length > 1) {
  const [a, b] = [pushRows[0], pushRows[pushRows.length - 1]];
  console.log(
    `# ${b.repos}/${a.repos} repositories: push ${ratio(b.push.cli, a.push.cli)}, served ${ratio(b.push.served, a.push.served)}`,
  );
}
console.log(
  `# load after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
