// Benchmark: the web page (/ui/) of the real registry process over a generated app repo with
// 1,000 repositories and one repository with 500 tags (500 distinct images, so 500 configs).
// Server time = time to first byte on loopback (node:http, one request at a time); full load =
// Chromium's navigation timing to the load event (Debian's chromium, driven by playwright-core).
// Baseline in the same run: /v2/_catalog, the registry's JSON answer over the same 1,000 names.
// Targets: list page < 200 ms server time, < 1 s full load. See bench/README.md.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { request } from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runIfMain } from "./lib/report.mjs";
import { freePort, serverBundleArgs, startProcess, waitFor } from "./lib/procs.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = (p) => pathToFileURL(path.join(root, "dist", p)).href;
const CHROMIUM = process.env.RAAS_CHROMIUM ?? "/usr/bin/chromium";
const REPOS = Number(process.env.BENCH_WEB_REPOS ?? 1000);
const TAGS = Number(process.env.BENCH_WEB_TAGS ?? 500);
const SAMPLES = Number(process.env.BENCH_WEB_SAMPLES ?? 30);
const S2 = "application/vnd.docker.distribution.manifest.v2+json";

const sha = (bytes) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const json = (value) => Buffer.from(JSON.stringify(value));

/** One image per `seed`: config (with a creation date), one layer, manifest. */
function image(seed, day) {
  const layer = Buffer.from(`layer ${seed} `.repeat(64));
  const config = json({
    architecture: "amd64",
    os: "linux",
    created: new Date(Date.UTC(2024, 0, 1 + day)).toISOString(),
    config: { Env: ["PATH=/usr/bin"], Labels: { "org.example.seed": seed } },
    rootfs: { type: "layers", diff_ids: [sha(layer)] },
  });
  const manifest = json({
    schemaVersion: 2,
    mediaType: S2,
    config: {
      mediaType: "application/vnd.docker.container.image.v1+json",
      size: config.length,
      digest: sha(config),
    },
    layers: [
      {
        mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
        size: layer.length,
        digest: sha(layer),
      },
    ],
  });
  return { manifest, digest: sha(manifest), blobs: [config, layer] };
}

async function writeApp(dir) {
  const { applyPublication } = await import(dist("crane/publication.js"));
  const { serializeMetadata } = await import(dist("crane/serialize.js"));
  const data = path.join(dir, "data");
  mkdirSync(data, { recursive: true });
  mkdirSync(path.join(dir, "content", "v1"), { recursive: true });
  const publish = (name, repository, images, tags) => {
    const manifestDir = path.join(dir, "manifests", repository);
    const blobDir = path.join(dir, "content", repository, "blobs");
    mkdirSync(manifestDir, { recursive: true });
    mkdirSync(blobDir, { recursive: true });
    for (const img of images) {
      writeFileSync(path.join(manifestDir, img.digest), img.manifest);
      for (const b of img.blobs) writeFileSync(path.join(blobDir, sha(b)), b);
    }
    const meta = applyPublication(
      undefined,
      {
        name,
        repository,
        url: `http://127.0.0.1:9/bucket/${repository}/`,
        manifests: images.map((img) => ({
          digest: img.digest,
          mediaType: S2,
          size: img.manifest.length,
          refs: img.blobs.map(sha),
        })),
        blobs: images.flatMap((img) => img.blobs.map((b) => ({ digest: sha(b), size: b.length }))),
        tags,
      },
      new Date("2024-06-01T00:00:00Z"),
    );
    writeFileSync(path.join(data, `${repository}.json`), serializeMetadata(meta));
  };
  for (let i = 0; i < REPOS; i++) {
    const img = image(`repo${i}`, i % 365);
    publish(`bench/repo-${String(i).padStart(4, "0")}`, `bench-repo-${i}`, [img], {
      latest: img.digest,
      "1.0": img.digest,
    });
  }
  const many = Array.from({ length: TAGS }, (_, i) => image(`tag${i}`, i % 365));
  publish(
    "bench/many-tags",
    "bench-many-tags",
    many,
    Object.fromEntries(many.map((img, i) => [`1.${i}.0`, img.digest])),
  );
  const conf = path.join(dir, "registry.conf");
  writeFileSync(
    conf,
    "[general]\ndata_dir = data\ndata_dir_polling_interval = 60\n[raas]\nmanifest_dir = manifests\naccess_log = false\n" +
      "[serve_content]\nenable = true\ncontent_dir_v1 = content/v1\ncontent_dir_v2 = content\nuse_x_sendfile = false\n",
  );
  return conf;
}

/** Time to first byte and to the last byte of one GET, in ms; the body must have `expect`. */
function timeGet(url, expect) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const req = request(url, { agent: false, headers: { Accept: "text/html" } }, (res) => {
      const first = process.hrtime.bigint();
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200 || !body.includes(expect)) {
          reject(new Error(`${url}: status ${res.statusCode}, body lacks ${expect}`));
          return;
        }
        const end = process.hrtime.bigint();
        resolve({ ttfb: Number(first - start) / 1e6, total: Number(end - start) / 1e6, bytes: body.length });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))];
const ms = (x) => `${x.toFixed(1)} ms`;

async function serverTimes(url, expect) {
  const samples = [];
  for (let i = 0; i < SAMPLES; i++) samples.push(await timeGet(url, expect));
  return { ttfb: samples.map((s) => s.ttfb), bytes: samples[0].bytes };
}

async function browserLoads(pages) {
  if (!existsSync(CHROMIUM)) return undefined;
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const out = {};
    for (const [label, url] of pages) {
      const loads = [];
      const ttfbs = [];
      for (let i = 0; i < 10; i++) {
        await page.goto(url, { waitUntil: "load" });
        const t = await page.evaluate(() => {
          const nav = performance.getEntriesByType("navigation")[0];
          return { ttfb: nav.responseStart - nav.requestStart, load: nav.loadEventEnd - nav.startTime };
        });
        loads.push(t.load);
        ttfbs.push(t.ttfb);
      }
      out[label] = { load: loads, ttfb: ttfbs };
    }
    return out;
  } finally {
    await browser.close();
  }
}

export async function benchWeb() {
  const work = mkdtempSync(path.join(os.tmpdir(), "raas-bench-web-"));
  const load = os.loadavg()[0].toFixed(2);
  try {
    const conf = await writeApp(work);
    const port = await freePort();
    const proc = startProcess(
      process.execPath,
      serverBundleArgs(root, conf, port),
      path.join(work, "server.log"),
    );
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor(`${base}/readyz`, { expect: 200, what: "raas registry", ms: 60_000 });
      // Cold: the first visit of the 500-tag page reads its 500 configs from the content dir.
      const cold = await timeGet(`${base}/ui/r/bench/many-tags`, "1.499.0");
      const catalog = await serverTimes(`${base}/v2/_catalog`, "bench/repo-0500");
      const list = await serverTimes(`${base}/ui/`, "bench/repo-");
      const search = await serverTimes(`${base}/ui/?q=repo-004`, "bench/repo-0042");
      const repo = await serverTimes(`${base}/ui/r/bench/many-tags`, "1.499.0");
      const sorted = await serverTimes(`${base}/ui/r/bench/many-tags?sort=created&order=desc`, "1.499.0");
      const tag = await serverTimes(`${base}/ui/r/bench/many-tags/-/t/1.7.0`, "Layers");
      const browser = await browserLoads([
        ["list", `${base}/ui/`],
        ["repo", `${base}/ui/r/bench/many-tags`],
      ]);
      const row = (label, r, extra = "") => [
        label,
        ms(median(r.ttfb)),
        `p95 ${ms(p95(r.ttfb))}, ${(r.bytes / 1024).toFixed(0)} KiB${extra}`,
      ];
      const rows = [
        row(`baseline: /v2/_catalog JSON (${REPOS} names)`, catalog),
        row(
          `list page, ${REPOS} repositories (target < 200 ms)`,
          list,
          `, ${(median(list.ttfb) / median(catalog.ttfb)).toFixed(1)}x catalog`,
        ),
        row("list page, server-side search", search),
        [
          `repository page, ${TAGS} tags, first visit`,
          ms(cold.ttfb),
          `configs read from the content dir, ${(cold.bytes / 1024).toFixed(0)} KiB`,
        ],
        row(`repository page, ${TAGS} tags`, repo),
        row(`repository page, ${TAGS} tags, sorted by created`, sorted),
        row("image page", tag),
      ];
      if (browser === undefined) {
        rows.push(["full load in Chromium", "skipped", `no browser at ${CHROMIUM}`]);
      } else {
        rows.push([
          "list page: full load in Chromium (target < 1 s)",
          ms(median(browser.list.load)),
          `browser TTFB ${ms(median(browser.list.ttfb))}, 10 loads`,
        ]);
        rows.push([
          `repository page (${TAGS} tags): full load in Chromium`,
          ms(median(browser.repo.load)),
          `browser TTFB ${ms(median(browser.repo.ttfb))}, 10 loads`,
        ]);
      }
      const cpu = os.cpus()[0]?.model ?? "unknown CPU";
      return {
        title: `Web page (/ui/): median time to first byte over ${SAMPLES} sequential requests on loopback — ${os.cpus().length} x ${cpu}, Node ${process.version}, load ${load}, ${new Date().toISOString().slice(0, 16)}Z`,
        rows,
      };
    } finally {
      await proc.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, benchWeb, { label: 56, value: 10, header: true });
