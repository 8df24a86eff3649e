import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { InputError } from "../errors.js";
import { sha256Digest, type Digest } from "./digest.js";
import { toDockerSchema2 } from "./docker-schema2.js";
import { MediaType } from "./media-types.js";
import type { Blob, ImageIndex, ImageManifest } from "./model.js";

const blob = (seed: string, mediaType: string): Blob => ({
  digest: sha256Digest(Buffer.from(seed)),
  size: seed.length,
  mediaType,
  open: () => Readable.from([Buffer.from(seed)]),
  origin: `test:${seed}`,
});

function image(layerTypes: string[], extra: Record<string, unknown> = {}): ImageManifest {
  const config = blob("config", MediaType.ociConfig);
  const layers = layerTypes.map((type, i) => blob(`layer${i}`, type));
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l, i) => ({
      mediaType: l.mediaType,
      digest: l.digest,
      size: l.size,
      ...(l.mediaType === MediaType.ociLayerNondistGzip ? { urls: [`https://vendor.example/${i}`] } : {}),
    })),
    annotations: { "org.opencontainers.image.created": "2026-01-01T00:00:00Z" },
    ...extra,
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  return {
    kind: "image",
    digest: sha256Digest(bytes),
    mediaType: MediaType.ociManifest,
    bytes,
    config,
    layers,
  };
}

function index(children: ImageManifest[], arch = ["amd64", "arm64"]): ImageIndex {
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: children.map((m, i) => ({
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.bytes.length,
      platform: { architecture: arch[i], os: "linux" },
    })),
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  return {
    kind: "index",
    digest: sha256Digest(bytes),
    mediaType: MediaType.ociIndex,
    bytes,
    manifests: children,
  };
}

const parse = (bytes: Buffer) =>
  JSON.parse(bytes.toString()) as Record<string, unknown> & {
    config: { mediaType: string; digest: string; size: number };
    layers: { mediaType: string; digest: string; size: number; urls?: string[] }[];
  };

describe("toDockerSchema2", () => {
  it("retypes an OCI manifest, keeping every layer and the config byte for byte", () => {
    const input = image([MediaType.ociLayerGzip, MediaType.ociLayerTar, MediaType.ociLayerNondistGzip]);
    const { root, conversions } = toDockerSchema2(input, "web.tar");
    if (root.kind !== "image") throw new Error("expected an image");
    const doc = parse(root.bytes);
    expect(Object.keys(doc).slice(0, 2)).toEqual(["schemaVersion", "mediaType"]);
    expect(doc.mediaType).toBe(MediaType.dockerManifest);
    expect(doc.config).toEqual({ ...parse(input.bytes).config, mediaType: MediaType.dockerConfig });
    expect(doc.layers.map((l) => l.mediaType)).toEqual([
      MediaType.dockerLayerGzip,
      MediaType.dockerLayerTar,
      MediaType.dockerForeignLayerGzip,
    ]);
    expect(doc.layers.map((l) => [l.digest, l.size])).toEqual(input.layers.map((l) => [l.digest, l.size]));
    expect(doc.layers[2]?.urls).toEqual(["https://vendor.example/2"]);
    expect(doc.annotations).toEqual(parse(input.bytes).annotations);
    expect(root.digest).toBe(sha256Digest(root.bytes));
    expect(root.digest).not.toBe(input.digest);
    expect(root.layers.map((l) => l.digest)).toEqual(input.layers.map((l) => l.digest));
    expect(root.config.mediaType).toBe(MediaType.dockerConfig);
    expect(root.layers.map((l) => l.mediaType)).toEqual(doc.layers.map((l) => l.mediaType));
    expect(conversions).toEqual([
      {
        from: input.digest,
        to: root.digest,
        fromMediaType: MediaType.ociManifest,
        toMediaType: MediaType.dockerManifest,
      },
    ]);
  });

  it("turns an OCI index into a manifest list that points at the converted children", () => {
    const a = image([MediaType.ociLayerGzip]);
    const b = image([MediaType.ociLayerGzip, MediaType.ociLayerGzip]);
    const input = index([a, b]);
    const { root, conversions } = toDockerSchema2(input, "web.tar");
    if (root.kind !== "index") throw new Error("expected an index");
    const doc = JSON.parse(root.bytes.toString()) as {
      mediaType: string;
      manifests: { mediaType: string; digest: Digest; size: number; platform: unknown }[];
    };
    expect(doc.mediaType).toBe(MediaType.dockerManifestList);
    expect(doc.manifests.map((m) => [m.mediaType, m.digest, m.size])).toEqual(
      root.manifests.map((m) => [MediaType.dockerManifest, m.digest, m.bytes.length]),
    );
    for (const child of root.manifests) expect(child.digest).toBe(sha256Digest(child.bytes));
    expect(doc.manifests.map((m) => m.platform)).toEqual([
      { architecture: "amd64", os: "linux" },
      { architecture: "arm64", os: "linux" },
    ]);
    expect(conversions.map((c) => c.from)).toEqual([a.digest, b.digest, input.digest]);
    expect(conversions.at(-1)?.to).toBe(root.digest);
  });

  it("leaves Docker images alone", () => {
    const docker = image([MediaType.ociLayerGzip]);
    const { root: once } = toDockerSchema2(docker, "x");
    const { root, conversions } = toDockerSchema2(once, "x");
    expect(root).toBe(once);
    expect(conversions).toEqual([]);
  });

  it("refuses what Docker schema 2 cannot describe, naming the input", () => {
    const cases = [
      image([MediaType.ociLayerZstd]),
      image([MediaType.ociLayerNondistTar]),
      image([MediaType.ociLayerGzip], {
        subject: { mediaType: MediaType.ociManifest, digest: "sha256:" + "1".repeat(64), size: 1 },
      }),
      image([MediaType.ociLayerGzip], { artifactType: "application/vnd.example" }),
    ];
    for (const input of cases) {
      expect(() => toDockerSchema2(input, "web.tar")).toThrow(InputError);
      expect(() => toDockerSchema2(input, "web.tar")).toThrow(/^web\.tar: /);
    }
    const noPlatform = index([image([MediaType.ociLayerGzip])]);
    const doc = JSON.parse(noPlatform.bytes.toString()) as { manifests: Record<string, unknown>[] };
    delete doc.manifests[0]?.platform;
    const bytes = Buffer.from(JSON.stringify(doc));
    expect(() => toDockerSchema2({ ...noPlatform, bytes, digest: sha256Digest(bytes) }, "web.tar")).toThrow(
      /without a platform/,
    );
  });
});
