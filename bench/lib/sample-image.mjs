// Writes large OCI image archives for benchmarks without holding a layer in memory:
// each layer is a valid tar holding one file of random bytes, streamed to disk while hashed.
import { createHash, randomFillSync } from "node:crypto";
import { spawnSync } from "node:child_process";
import { createWriteStream, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import path from "node:path";

function tarHeader(name, size) {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(size.toString(8).padStart(11, "0") + "\0", 124);
  h.write("00000000000\0", 136);
  h.write("        ", 148);
  h.write("0", 156);
  h.write("ustar\0", 257);
  h.write("00", 263);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}

async function writeLayer(blobsDir, index, size) {
  const temp = path.join(blobsDir, `.layer-${index}`);
  const out = createWriteStream(temp);
  const hash = createHash("sha256");
  const write = async (buf) => {
    hash.update(buf);
    if (!out.write(buf)) await once(out, "drain");
  };
  await write(tarHeader(`data-${index}.bin`, size));
  const chunk = Buffer.alloc(1 << 20);
  for (let left = size; left > 0; left -= chunk.length) {
    randomFillSync(chunk);
    await write(left >= chunk.length ? chunk : chunk.subarray(0, left));
  }
  const pad = (512 - (size % 512)) % 512;
  await write(Buffer.alloc(pad + 1024));
  out.end();
  await once(out, "finish");
  const hex = hash.digest("hex");
  renameSync(temp, path.join(blobsDir, hex));
  return { digest: `sha256:${hex}`, size: 512 + size + pad + 1024 };
}

/** Build `<file>` (an OCI layout in a tar) with `layers` uncompressed layers of `layerSize` random bytes. */
export async function buildOciArchive(file, { name, tag, layers, layerSize }) {
  const layout = `${file}.d`;
  const blobsDir = path.join(layout, "blobs", "sha256");
  mkdirSync(blobsDir, { recursive: true });
  const put = (data) => {
    const hex = createHash("sha256").update(data).digest("hex");
    writeFileSync(path.join(blobsDir, hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const layerDescs = [];
  for (let i = 0; i < layers; i++) layerDescs.push(await writeLayer(blobsDir, i, layerSize));
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: layerDescs.map((l) => l.digest) },
      history: layerDescs.map((_, i) => ({ created_by: `bench layer ${i}` })),
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...put(config) },
      layers: layerDescs.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", ...l })),
    }),
  );
  const m = put(manifest);
  writeFileSync(path.join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    path.join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...m,
          annotations: { "org.opencontainers.image.ref.name": `${name}:${tag}` },
        },
      ],
    }),
  );
  const tar = spawnSync("tar", ["-C", layout, "-cf", file, "oci-layout", "index.json", "blobs"], {
    stdio: "inherit",
  });
  if (tar.status !== 0) throw new Error("tar failed");
  return { layout, blobsDir, blobs: [...layerDescs, { ...put(config) }], manifestDigest: m.digest };
}
