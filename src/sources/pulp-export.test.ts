import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildV1Chain,
  writeLegacyDockerSave,
  writePulpExport,
  type V1Built,
} from "../../test/helpers/pulp-builder.js";
import { openImageSource } from "./index.js";

describe("v1 inputs: Pulp export variants and pre-1.10 docker save", () => {
  let dir: string;
  let chain: V1Built[];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "raas-v1-read-"));
    chain = await buildV1Chain(["one", "two", "three"]);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  // Reading converts: a v1 input comes out as schema 2 images that keep their v1 view.
  const convert = async (path: string) => {
    const source = await openImageSource(path);
    try {
      const [read] = source.images;
      const repo = read?.v1?.repository;
      if (read === undefined || repo === undefined) throw new Error("no v1 repository");
      expect(read.v1?.top).toBe(chain[2]?.id);
      if (read.root.kind !== "image") throw new Error("not an image");
      return { source, repo, image: read.root };
    } finally {
      await source.close();
    }
  };

  it("reads the <repo_id>/ layout and converts it to schema 2 with the right diff_ids and gzip digests", async () => {
    const path = join(dir, "repo-layout.tar");
    await writePulpExport(path, {
      repoId: "acme-x",
      registryId: "acme/x",
      images: chain,
      tags: { latest: chain[2]?.id ?? "" },
      layout: "repo",
    });
    const { source, repo, image } = await convert(path);
    expect(source.format).toBe("pulp-export");
    expect(repo.name).toBe("acme/x");
    expect(repo.external.size).toBe(0);
    expect(image.layers.map((l) => l.digest)).toEqual(chain.map((c) => c.digest));
    expect(image.layers.map((l) => l.diffId)).toEqual(chain.map((c) => c.diffId));
    expect(image.layers.map((l) => l.aliases)).toEqual(chain.map((c) => [c.id]));
  });

  it("reads a pre-1.10 docker save, generating Pulp's ancestry bytes and gzipping layer.tar", async () => {
    const path = join(dir, "legacy.tar");
    await writeLegacyDockerSave(path, {
      name: "busybox",
      images: chain,
      tags: { latest: chain[2]?.id ?? "" },
    });
    const { source, repo, image } = await convert(path);
    expect(source.format).toBe("docker-archive-legacy");
    expect(repo.images.get(chain[2]?.id ?? "")?.ancestryBytes.toString()).toBe(
      chain[2]?.ancestryBytes.toString(),
    );
    expect(image.layers.map((l) => l.diffId)).toEqual(chain.map((c) => c.diffId));
    const config = JSON.parse((await readAll(image.config.open())).toString()) as Record<string, unknown>;
    expect(config).not.toHaveProperty("id");
    expect(config).not.toHaveProperty("parent");
    expect(config).toMatchObject({ os: "linux", rootfs: { type: "layers" } });
    expect((config.history as unknown[]).length).toBe(3);
    // The published gzip is the bytes whose digest the manifest names.
    const layer = image.layers[0];
    expect(layer && (await readAll(layer.open())).length).toBe(layer?.size);
  });
});

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(parts);
}
