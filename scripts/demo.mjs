#!/usr/bin/env node
// The README's quick start: on the embedded default (local storage, local git remote, local
// registry server; no configuration, no cloud account) set up an ISV called "demo", build a
// small two-layer OCI image, publish it, and print how to pull it.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const raas = path.join(root, "bin", "raas.js");
const work = mkdtempSync(path.join(tmpdir(), "raas-demo-"));

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: options.capture ? "pipe" : "inherit", ...options });
  if (result.status !== 0) {
    if (options.capture) process.stderr.write(result.stderr ?? "");
    console.error(`\n${cmd} ${args.join(" ")} failed with exit code ${result.status}`);
    process.exit(result.status ?? 1);
  }
  return result;
}

const sha = (data) => createHash("sha256").update(data).digest("hex");

// Each layer is a real tar of a few files, gzip-compressed, as registries expect.
function layer(name, files) {
  const dir = path.join(work, name);
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), content);
  }
  const tarFile = path.join(work, `${name}.tar`);
  run("tar", ["--sort=name", "--owner=0", "--group=0", "--mtime=@0", "-C", dir, "-cf", tarFile, "."]);
  const raw = readFileSync(tarFile);
  const gz = gzipSync(raw);
  return { gz, diffId: `sha256:${sha(raw)}`, digest: `sha256:${sha(gz)}` };
}

const layout = path.join(work, "layout");
const blobs = path.join(layout, "blobs", "sha256");
mkdirSync(blobs, { recursive: true });
const put = (data) => {
  const hex = sha(data);
  writeFileSync(path.join(blobs, hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
};

const layers = [
  layer("base", { "etc/os-release": 'NAME="raas demo"\n', "hello.txt": "hello from raas\n" }),
  layer("app", { "app/README": "A tiny image published by raas.\n", "app/version": "1.0\n" }),
];
const config = Buffer.from(
  JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/bin/sh"], Labels: { "org.opencontainers.image.title": "raas demo" } },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: "2026-01-01T00:00:00Z", created_by: `demo layer ${i + 1}` })),
  }),
);
const configDesc = { mediaType: "application/vnd.oci.image.config.v1+json", ...put(config) };
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: configDesc,
    layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...put(l.gz) })),
  }),
);
const manifestDesc = { mediaType: "application/vnd.oci.image.manifest.v1+json", ...put(manifest) };
writeFileSync(path.join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
writeFileSync(
  path.join(layout, "index.json"),
  JSON.stringify({
    schemaVersion: 2,
    manifests: [{ ...manifestDesc, annotations: { "org.opencontainers.image.ref.name": "demo/hello:1.0" } }],
  }),
);
const archive = path.join(work, "hello.tar");
run("tar", ["-C", layout, "-cf", archive, "oci-layout", "index.json", "blobs"]);

console.log(`Built a sample OCI image archive: ${archive}\n`);
run(process.execPath, [raas, "setup", "demo"]);
console.log("");
run(process.execPath, [raas, "push", "demo", archive]);
rmSync(work, { recursive: true, force: true });
console.log(
  "\nThe registry keeps running in the background (`npx raas status demo` checks it;" +
    " `npx raas serve demo` runs it in the foreground instead). From this clone, `npx raas`" +
    " runs raas; `npm link` puts `raas` on your PATH.",
);
