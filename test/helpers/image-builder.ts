/**
 * Builds realistic images on disk for tests and benchmarks, and returns what it wrote so
 * tests can assert on digests and sizes. Layers are valid tar streams generated from a seed
 * (same seed, same bytes, same digests: that is how two images share layers), streamed so
 * that 8 x 128 MiB layers never sit in memory.
 */
import { createCipheriv, createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readlink, rename, rm, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { HashingStream, sha256Digest, type Digest } from "../../src/image/digest.js";
import { MediaType } from "../../src/image/media-types.js";
import type { Platform } from "../../src/image/model.js";
import { tarChunks, tarSize, writeTar, type TarEntry, type TarSource } from "./tar-writer.js";

export interface BuiltLayer {
  seed: string;
  dataSize: number;
  /** Uncompressed layer tar: digest and size. */
  diffId: Digest;
  tarSize: number;
  /** The blob as stored (gzip-compressed for gzip OCI layouts, else the tar itself). */
  digest: Digest;
  size: number;
  mediaType: string;
  /** The `<v1id>` directory of a pre-25 `docker save` archive. */
  v1Id?: string;
}

export interface BuiltManifest {
  /** Undefined for pre-25 docker archives, which hold no registry manifest. */
  digest?: Digest;
  mediaType?: string;
  platform: Platform;
  config: { digest: Digest; size: number; bytes: Buffer };
  layers: BuiltLayer[];
}

export interface BuiltImage {
  path: string;
  name: string;
  tag: string;
  /** The index digest for multi-platform images, else the manifest digest (if any). */
  digest?: Digest;
  manifests: BuiltManifest[];
}

export interface ImageSpec {
  name: string;
  tag: string;
  layers: number;
  /** Bytes of random data in each new layer (default 1 KiB). */
  layerSize?: number;
  /** Reuse the first layers of this image (same bytes, same digests). */
  sharedLayersFrom?: BuiltImage;
  /** Explicit layer seeds; a repeated seed repeats a layer (docker save then writes a symlink). */
  layerSeeds?: string[];
}

const AMD64: Platform = { architecture: "amd64", os: "linux" };
const CREATED = "2024-01-01T00:00:00Z";

function randomSource(seed: string, size: number): TarSource {
  const key = createHash("sha256").update(seed).digest().subarray(0, 16);
  return {
    size,
    *chunks() {
      // AES-CTR over zeros: fast, deterministic pseudo-random bytes.
      const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
      const zeros = Buffer.alloc(1024 * 1024);
      for (let done = 0; done < size; done += zeros.length) {
        yield cipher.update(zeros.subarray(0, Math.min(zeros.length, size - done)));
      }
    },
  };
}

/** A layer tar with a directory, two small text files and a random data file. */
export function layerTar(seed: string, dataSize: number): TarSource {
  const dir = `opt/${createHash("sha256").update(seed).digest("hex").slice(0, 12)}`;
  const entries: TarEntry[] = [
    { name: "opt/", type: "directory" },
    { name: `${dir}/`, type: "directory" },
    { name: `${dir}/hello.txt`, data: `hello from layer ${seed}\n` },
    { name: `${dir}/app.conf`, data: `seed=${seed}\nsize=${dataSize}\n` },
    { name: `${dir}/data.bin`, source: randomSource(seed, dataSize) },
  ];
  return { size: tarSize(entries), chunks: () => tarChunks(entries) };
}

async function digestOf(source: TarSource): Promise<Digest> {
  const hash = createHash("sha256");
  for await (const chunk of source.chunks()) hash.update(chunk);
  return `sha256:${hash.digest("hex")}`;
}

function layerSeeds(spec: ImageSpec, platform: Platform): { seed: string; dataSize: number }[] {
  const shared = spec.sharedLayersFrom?.manifests[0]?.layers ?? [];
  const suffix =
    platform.architecture === "amd64" ? "" : `:${platform.architecture}${platform.variant ?? ""}`;
  return Array.from({ length: spec.layerSeeds?.length ?? spec.layers }, (_, i) => {
    const reused = shared[i];
    if (reused !== undefined && spec.layerSeeds === undefined) {
      return { seed: reused.seed, dataSize: reused.dataSize };
    }
    return {
      seed: (spec.layerSeeds?.[i] ?? `${spec.name}:${spec.tag}:${i}`) + suffix,
      dataSize: spec.layerSize ?? 1024,
    };
  });
}

async function plainLayers(spec: ImageSpec, platform: Platform): Promise<BuiltLayer[]> {
  const layers: BuiltLayer[] = [];
  for (const { seed, dataSize } of layerSeeds(spec, platform)) {
    const tar = layerTar(seed, dataSize);
    const diffId = await digestOf(tar);
    layers.push({ seed, dataSize, diffId, tarSize: tar.size, digest: diffId, size: tar.size, mediaType: "" });
  }
  return layers;
}

export function imageConfig(platform: Platform, diffIds: Digest[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant === undefined ? {} : { variant: platform.variant }),
      config: {
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        Cmd: ["/bin/sh"],
      },
      created: CREATED,
      history: diffIds.map((_, i) => ({ created: CREATED, created_by: `COPY layer${i} /opt/ # buildkit` })),
      rootfs: { type: "layers", diff_ids: diffIds },
    }),
  );
}

/** Tar entries of a pre-25 `docker save` archive holding the given images (small or streamed). */
export async function dockerArchiveEntries(path: string, specs: ImageSpec[]) {
  const entries: TarEntry[] = [];
  const images: BuiltImage[] = [];
  const written = new Set<string>();
  const firstByDiffId = new Map<string, string>();
  const manifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const spec of specs) {
    const layers = await plainLayers(spec, AMD64);
    const config = imageConfig(
      AMD64,
      layers.map((l) => l.diffId),
    );
    const configDigest = sha256Digest(config);
    let parent = "";
    for (const [i, layer] of layers.entries()) {
      const top = i === layers.length - 1 ? configDigest : "";
      const v1Id = createHash("sha256").update(`${parent}\n${layer.diffId}\n${top}`).digest("hex");
      layer.v1Id = v1Id;
      layer.mediaType = MediaType.dockerLayerTar;
      if (!written.has(v1Id)) {
        written.add(v1Id);
        const v1 = { id: v1Id, ...(parent === "" ? {} : { parent }), created: CREATED, os: "linux" };
        entries.push(
          { name: `${v1Id}/`, type: "directory" },
          { name: `${v1Id}/VERSION`, data: "1.0" },
          { name: `${v1Id}/json`, data: JSON.stringify(v1) },
        );
        const first = firstByDiffId.get(layer.diffId);
        if (first === undefined) {
          firstByDiffId.set(layer.diffId, v1Id);
          entries.push({ name: `${v1Id}/layer.tar`, source: layerTar(layer.seed, layer.dataSize) });
        } else {
          entries.push({ name: `${v1Id}/layer.tar`, type: "symlink", linkTarget: `../${first}/layer.tar` });
        }
      }
      parent = v1Id;
    }
    const configHex = configDigest.slice(7);
    entries.push({ name: `${configHex}.json`, data: config });
    manifest.push({
      Config: `${configHex}.json`,
      RepoTags: [`${spec.name}:${spec.tag}`],
      Layers: layers.map((l) => `${l.v1Id}/layer.tar`),
    });
    (repositories[spec.name] ??= {})[spec.tag] = parent;
    const built: BuiltManifest = {
      platform: AMD64,
      config: { digest: configDigest, size: config.length, bytes: config },
      layers,
    };
    images.push({ path, name: spec.name, tag: spec.tag, manifests: [built] });
  }
  entries.push({ name: "manifest.json", data: JSON.stringify(manifest) + "\n" });
  entries.push({ name: "repositories", data: JSON.stringify(repositories) + "\n" });
  return { entries, images };
}

/** `docker save` as written by Docker 1.10 to 24. */
export async function buildDockerArchive(path: string, spec: ImageSpec): Promise<BuiltImage> {
  const [image] = await buildDockerArchiveMulti(path, [spec]);
  if (image === undefined) throw new Error("unreachable");
  return image;
}

export async function buildDockerArchiveMulti(path: string, specs: ImageSpec[]): Promise<BuiltImage[]> {
  const { entries, images } = await dockerArchiveEntries(path, specs);
  await writeTar(path, entries);
  return images;
}

export interface OciSpec extends ImageSpec {
  gzip?: boolean;
  /** Several platforms build an index. */
  platforms?: Platform[];
  /** How index.json names the image: both annotations (containerd, Docker 25+) or the tag only (skopeo). */
  annotations?: "containerd" | "skopeo";
}

async function writeBlob(dir: string, bytes: Buffer): Promise<Digest> {
  const digest = sha256Digest(bytes);
  await writeFile(join(dir, "blobs", "sha256", digest.slice(7)), bytes);
  return digest;
}

async function writeLayerBlob(dir: string, layer: BuiltLayer, gzip: boolean): Promise<void> {
  const tmp = join(dir, "blobs", "sha256", `.tmp-${layer.seed.replace(/[^a-z0-9]/gi, "_")}`);
  const stored = new HashingStream();
  const source = Readable.from(layerTar(layer.seed, layer.dataSize).chunks());
  if (gzip) await pipeline(source, createGzip(), stored, createWriteStream(tmp));
  else await pipeline(source, stored, createWriteStream(tmp));
  layer.digest = stored.digest();
  layer.size = stored.size();
  layer.mediaType = gzip ? MediaType.ociLayerGzip : MediaType.ociLayerTar;
  await rename(tmp, join(dir, "blobs", "sha256", layer.digest.slice(7)));
}

/** Writes an OCI layout into `dir`; returns the image and the index.json entry for it. */
export async function writeOciLayoutDir(dir: string, spec: OciSpec, path = dir) {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const manifests: BuiltManifest[] = [];
  for (const platform of spec.platforms ?? [AMD64]) {
    const layers = await plainLayers(spec, platform);
    for (const layer of layers) await writeLayerBlob(dir, layer, spec.gzip === true);
    const config = imageConfig(
      platform,
      layers.map((l) => l.diffId),
    );
    const configDigest = await writeBlob(dir, config);
    const descriptor = (mediaType: string, digest: Digest, size: number) => ({ mediaType, digest, size });
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: descriptor(MediaType.ociConfig, configDigest, config.length),
        layers: layers.map((l) => descriptor(l.mediaType, l.digest, l.size)),
      }),
    );
    const digest = await writeBlob(dir, manifest);
    manifests.push({
      digest,
      mediaType: MediaType.ociManifest,
      platform,
      config: { digest: configDigest, size: config.length, bytes: config },
      layers,
    });
  }
  const single = spec.platforms === undefined || spec.platforms.length === 1;
  let root: { mediaType: string; digest: Digest; size: number };
  const first = manifests[0];
  if (single && first?.digest !== undefined) {
    root = {
      mediaType: MediaType.ociManifest,
      digest: first.digest,
      size: (await stat(join(dir, "blobs", "sha256", first.digest.slice(7)))).size,
    };
  } else {
    const children = [];
    for (const m of manifests) {
      const size = (await stat(join(dir, "blobs", "sha256", (m.digest ?? "").slice(7)))).size;
      children.push({ mediaType: MediaType.ociManifest, digest: m.digest, size, platform: m.platform });
    }
    const index = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: children }),
    );
    root = { mediaType: MediaType.ociIndex, digest: await writeBlob(dir, index), size: index.length };
  }
  const annotations: Record<string, string> = { "org.opencontainers.image.ref.name": spec.tag };
  if (spec.annotations !== "skopeo") {
    annotations["io.containerd.image.name"] =
      `docker.io/${spec.name.includes("/") ? "" : "library/"}${spec.name}:${spec.tag}`;
  }
  const entry = { ...root, annotations };
  await writeFile(
    join(dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [entry] }),
  );
  const image: BuiltImage = { path, name: spec.name, tag: spec.tag, digest: root.digest, manifests };
  return { image, entry };
}

/** Tar entries for every file and symlink under dir, streamed from disk, in sorted order. */
export async function directoryEntries(dir: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const walk = async (current: string): Promise<void> => {
    for (const item of (await readdir(current, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const full = join(current, item.name);
      const name = relative(dir, full);
      if (item.isDirectory()) {
        entries.push({ name: `${name}/`, type: "directory" });
        await walk(full);
      } else if (item.isSymbolicLink()) {
        entries.push({ name, type: "symlink", linkTarget: await readlink(full) });
      } else {
        const size = (await stat(full)).size;
        entries.push({ name, source: { size, chunks: () => createReadStream(full) } });
      }
    }
  };
  await walk(dir);
  return entries;
}

/** An OCI layout as a directory, or as an OCI archive when `target` ends in ".tar". */
export async function buildOciLayout(target: string, spec: OciSpec): Promise<BuiltImage> {
  if (!target.endsWith(".tar")) return (await writeOciLayoutDir(target, spec)).image;
  const dir = `${target}.build`;
  try {
    const { image } = await writeOciLayoutDir(dir, spec, target);
    await writeTar(target, await directoryEntries(dir));
    return image;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `docker save` as written by Docker 25+: an OCI layout with uncompressed layers, plus manifest.json. */
export async function buildDockerArchive25(path: string, spec: ImageSpec): Promise<BuiltImage> {
  const dir = `${path}.build`;
  try {
    const { image } = await writeOciLayoutDir(dir, { ...spec, gzip: false }, path);
    const built = image.manifests[0];
    if (built === undefined) throw new Error("unreachable");
    const blob = (digest: Digest) => `blobs/sha256/${digest.slice(7)}`;
    const manifest = [
      {
        Config: blob(built.config.digest),
        RepoTags: [`${spec.name}:${spec.tag}`],
        Layers: built.layers.map((l) => blob(l.digest)),
      },
    ];
    await writeFile(join(dir, "manifest.json"), JSON.stringify(manifest) + "\n");
    await writeFile(
      join(dir, "repositories"),
      JSON.stringify({ [spec.name]: { [spec.tag]: built.layers.at(-1)?.diffId.slice(7) } }) + "\n",
    );
    await writeTar(path, await directoryEntries(dir));
    return image;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
