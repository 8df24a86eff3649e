// A registry app repo for benchmarks: one small Docker schema-2 image (config + two layers),
// its Crane v4 + x-raas metadata (written by the built dist/ code, as push writes it), the exact
// manifest bytes under manifests/, the blobs under content/, and two registry.conf files:
// serve_content (for skopeo to copy from) and public redirect (what the blob benchmark measures).
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const dist = (p) => pathToFileURL(path.join(root, "dist", p)).href;

const sha = (bytes) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const json = (value) => Buffer.from(JSON.stringify(value));

export async function writeRegistryApp(dir, { name = "bench/app", repository = "bench-app" } = {}) {
  const { applyPublication } = await import(dist("crane/publication.js"));
  const { serializeMetadata } = await import(dist("crane/serialize.js"));
  const layers = [Buffer.alloc(256 * 1024, "a"), Buffer.alloc(64 * 1024, "b")];
  const config = json({
    architecture: "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: layers.map(sha) },
  });
  const manifest = json({
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    config: {
      mediaType: "application/vnd.docker.container.image.v1+json",
      size: config.length,
      digest: sha(config),
    },
    layers: layers.map((l) => ({
      mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
      size: l.length,
      digest: sha(l),
    })),
  });
  const digest = sha(manifest);
  const blobs = [config, ...layers];
  const meta = applyPublication(
    undefined,
    {
      name,
      repository,
      url: `http://127.0.0.1:9/bucket/${repository}/`,
      manifests: [
        {
          digest,
          mediaType: "application/vnd.docker.distribution.manifest.v2+json",
          size: manifest.length,
          refs: blobs.map(sha),
        },
      ],
      blobs: blobs.map((b) => ({ digest: sha(b), size: b.length })),
      tags: { latest: digest },
    },
    new Date("2024-01-01T00:00:00Z"),
  );
  const data = path.join(dir, "data");
  const manifests = path.join(dir, "manifests", repository);
  const content = path.join(dir, "content");
  const blobDir = path.join(content, repository, "blobs");
  for (const d of [data, manifests, blobDir, path.join(content, "v1")]) mkdirSync(d, { recursive: true });
  writeFileSync(path.join(data, `${repository}.json`), serializeMetadata(meta));
  writeFileSync(path.join(manifests, digest), manifest);
  for (const blob of blobs) writeFileSync(path.join(blobDir, sha(blob)), blob);
  const common =
    "[general]\ndata_dir = data\ndata_dir_polling_interval = 60\n[raas]\nmanifest_dir = manifests\n";
  const serveConf = path.join(dir, "serve.conf");
  writeFileSync(
    serveConf,
    `${common}[serve_content]\nenable = true\ncontent_dir_v1 = content/v1\ncontent_dir_v2 = content\nuse_x_sendfile = false\n`,
  );
  const redirectConf = path.join(dir, "redirect.conf");
  writeFileSync(redirectConf, `${common}[storage]\npublic_base_url = http://127.0.0.1:9/bucket\n`);
  return { name, digest, manifest, blobDigest: sha(layers[0]), serveConf, redirectConf };
}
