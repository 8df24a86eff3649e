import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256Digest } from "../image/digest.js";
import { MediaType } from "../image/media-types.js";
import { blobsOf, type Blob, type ImageManifest, type ManifestNode } from "../image/model.js";
import {
  buildDockerArchive,
  buildDockerArchive25,
  buildDockerArchiveMulti,
  buildOciLayout,
  type BuiltManifest,
} from "../../test/helpers/image-builder.js";
import { openImageSource, resolveImagePath, type OpenedSource } from "./index.js";

let dir: string;
const opened: OpenedSource[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-readers-"));
});
afterEach(async () => {
  for (const source of opened.splice(0)) await source.close();
  await rm(dir, { recursive: true, force: true });
});

async function open(path: string): Promise<OpenedSource> {
  const source = await openImageSource(path);
  opened.push(source);
  return source;
}

/** Blob.open() must yield exactly the bytes the digest names. */
async function expectIntact(blob: Blob): Promise<void> {
  const bytes = await buffer(blob.open());
  expect(bytes.length).toBe(blob.size);
  expect(sha256Digest(bytes)).toBe(blob.digest);
}

function image(node: ManifestNode | undefined): ImageManifest {
  if (node?.kind !== "image") throw new Error(`expected an image manifest, got ${node?.kind}`);
  return node;
}

function expectMatches(manifest: ImageManifest, built: BuiltManifest | undefined): void {
  expect(built).toBeDefined();
  if (built === undefined) return;
  if (built.digest !== undefined) expect(manifest.digest).toBe(built.digest);
  expect(manifest.digest).toBe(sha256Digest(manifest.bytes));
  expect(manifest.config.digest).toBe(built.config.digest);
  expect(manifest.config.size).toBe(built.config.size);
  expect(manifest.layers.map((l) => [l.digest, l.size, l.mediaType])).toEqual(
    built.layers.map((l) => [l.digest, l.size, l.mediaType]),
  );
}

describe("docker save archives (Docker 1.10-24)", () => {
  it("reads digests, sizes, refs and v1 ids, and builds a stable schema 2 manifest", async () => {
    const path = join(dir, "app.tar");
    const built = await buildDockerArchive(path, {
      name: "acme/bigdata-app",
      tag: "1.0",
      layers: 3,
      layerSize: 5000,
    });
    const source = await open(path);
    expect(source.format).toBe("docker-archive");
    expect(source.images).toHaveLength(1);
    const [first] = source.images;
    expect(first?.refs).toEqual([{ name: "acme/bigdata-app", tag: "1.0" }]);
    const manifest = image(first?.root);
    expectMatches(manifest, built.manifests[0]);
    expect(manifest.mediaType).toBe(MediaType.dockerManifest);
    expect(manifest.config.mediaType).toBe(MediaType.dockerConfig);
    expect(manifest.layers.map((l) => l.aliases)).toEqual(built.manifests[0]?.layers.map((l) => [l.v1Id]));
    expect(manifest.layers.map((l) => l.diffId)).toEqual(manifest.layers.map((l) => l.digest));
    for (const blob of blobsOf(manifest)) await expectIntact(blob);
    const doc = JSON.parse(manifest.bytes.toString()) as { layers: { digest: string }[] };
    expect(doc.layers.map((l) => l.digest)).toEqual(manifest.layers.map((l) => l.digest));

    const again = image((await open(path)).images[0]?.root);
    expect(again.digest).toBe(manifest.digest);
    expect(again.bytes.equals(manifest.bytes)).toBe(true);
  });

  it("follows Docker's duplicate-layer symlinks inside the archive", async () => {
    const path = join(dir, "dup.tar");
    await buildDockerArchive(path, { name: "dup", tag: "latest", layers: 3, layerSeeds: ["a", "b", "a"] });
    const manifest = image((await open(path)).images[0]?.root);
    expect(manifest.layers).toHaveLength(3);
    expect(manifest.layers[2]?.digest).toBe(manifest.layers[0]?.digest);
    expect(manifest.layers[2]?.aliases).not.toEqual(manifest.layers[0]?.aliases);
    for (const layer of manifest.layers) await expectIntact(layer);
  });

  it("reads several images with shared layers from one archive", async () => {
    const path = join(dir, "two.tar");
    const base = await buildDockerArchive(join(dir, "base.tar"), { name: "base", tag: "1", layers: 2 });
    const [a, b] = await buildDockerArchiveMulti(path, [
      { name: "one", tag: "v1", layers: 3, sharedLayersFrom: base },
      { name: "docker.io/library/two", tag: "v2", layers: 4, sharedLayersFrom: base },
    ]);
    const source = await open(path);
    expect(source.images.map((i) => i.refs)).toEqual([
      [{ name: "one", tag: "v1" }],
      [{ name: "two", tag: "v2" }],
    ]);
    const [one, two] = source.images.map((i) => image(i.root));
    expectMatches(one as ImageManifest, a?.manifests[0]);
    expectMatches(two as ImageManifest, b?.manifests[0]);
    expect(two?.layers.slice(0, 2).map((l) => l.digest)).toEqual(
      one?.layers.slice(0, 2).map((l) => l.digest),
    );
    expect(one?.layers.slice(0, 2).map((l) => l.digest)).toEqual(
      base.manifests[0]?.layers.map((l) => l.digest),
    );
  });
});

describe("OCI layouts", () => {
  it("reads a gzip OCI layout directory", async () => {
    const path = join(dir, "layout");
    const built = await buildOciLayout(path, { name: "acme/web", tag: "2.1", layers: 2, gzip: true });
    const source = await open(path);
    expect(source.format).toBe("oci-layout");
    const [first] = source.images;
    expect(first?.refs).toEqual([{ name: "acme/web", tag: "2.1" }]);
    const manifest = image(first?.root);
    expect(manifest.digest).toBe(built.digest);
    expectMatches(manifest, built.manifests[0]);
    expect(manifest.layers.every((l) => l.mediaType === MediaType.ociLayerGzip)).toBe(true);
    expect(manifest.layers[0]?.origin).toBe(`${path}:blobs/sha256/${manifest.layers[0]?.digest.slice(7)}`);
    for (const blob of blobsOf(manifest)) await expectIntact(blob);
  });

  it("reads a multi-platform index from an OCI archive", async () => {
    const path = join(dir, "multi.tar");
    const platforms = [
      { architecture: "amd64", os: "linux" },
      { architecture: "arm64", os: "linux", variant: "v8" },
    ];
    const built = await buildOciLayout(path, { name: "multi", tag: "latest", layers: 2, platforms });
    const [first] = (await open(path)).images;
    const root = first?.root;
    expect(root?.kind).toBe("index");
    if (root?.kind !== "index") return;
    expect(root.digest).toBe(built.digest);
    expect(root.mediaType).toBe(MediaType.ociIndex);
    expect(root.manifests.map((m) => m.platform)).toEqual(platforms);
    root.manifests.forEach((m, i) => expectMatches(m, built.manifests[i]));
    for (const blob of blobsOf(root)) await expectIntact(blob);
  });

  it("takes skopeo's tag-only names as tags without a repository", async () => {
    const path = join(dir, "skopeo");
    await buildOciLayout(path, { name: "x", tag: "9.9", layers: 1, annotations: "skopeo" });
    const [first] = (await open(path)).images;
    expect(first?.refs).toEqual([]);
    expect(first?.tags).toEqual(["9.9"]);
  });

  it("reads docker save from Docker 25+ as an OCI layout", async () => {
    const path = join(dir, "d25.tar");
    const built = await buildDockerArchive25(path, { name: "acme/api", tag: "3", layers: 3 });
    const source = await open(path);
    expect(source.format).toBe("oci-layout");
    const [first] = source.images;
    expect(first?.refs).toEqual([{ name: "acme/api", tag: "3" }]);
    const manifest = image(first?.root);
    expectMatches(manifest, built.manifests[0]);
    expect(manifest.layers.every((l) => l.mediaType === MediaType.ociLayerTar)).toBe(true);
    for (const blob of blobsOf(manifest)) await expectIntact(blob);
  });
});

describe("resolveImagePath", () => {
  it("maps a bare name to ./<name>.tar unless it exists", async () => {
    expect(await resolveImagePath("bigdata-app", dir)).toBe(join(dir, "bigdata-app.tar"));
    expect(await resolveImagePath("image.tar", dir)).toBe(join(dir, "image.tar"));
    expect(await resolveImagePath("sub/app", dir)).toBe(join(dir, "sub/app"));
    await mkdir(join(dir, "layout"));
    expect(await resolveImagePath("layout", dir)).toBe(join(dir, "layout"));
    await writeFile(join(dir, "plain"), "");
    expect(await resolveImagePath("plain", dir)).toBe(join(dir, "plain"));
  });
});
