/**
 * Builds Pulp 2 exports (FORMATS.md §4.4) and pre-1.10 `docker save` archives from generated
 * v1 images, and the vendor side of federation: a directory laid out as the vendor's v1 web
 * tree (`<id>/{ancestry,json,layer}`), its Crane v1 metadata file, and a static HTTP server on
 * 127.0.0.1 that serves the tree and counts requests per path.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, normalize, sep } from "node:path";
import { gzipSync } from "node:zlib";
import { sha256Digest, type Digest } from "../../src/image/digest.js";
import { layerTar } from "./image-builder.js";
import { tarBuffer, writeTar, type TarEntry } from "./tar-writer.js";

export interface V1Built {
  id: string;
  parent: string | undefined;
  /** self first. */
  ancestry: string[];
  json: Buffer;
  ancestryBytes: Buffer;
  /** Uncompressed layer tar. */
  tar: Buffer;
  /** gzip of `tar`: the v1 `layer` file and the v2 blob. */
  layer: Buffer;
  digest: Digest;
  diffId: Digest;
}

async function collect(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** A chain of v1 images on top of `parent` (base first in `seeds`). */
export async function buildV1Chain(
  seeds: string[],
  options: { parent?: V1Built; layerSize?: number } = {},
): Promise<V1Built[]> {
  const out: V1Built[] = [];
  let parent = options.parent;
  for (const seed of seeds) {
    const id = createHash("sha256").update(`v1 image ${seed}`).digest("hex");
    const tar = await collect(layerTar(seed, options.layerSize ?? 4096).chunks());
    const layer = gzipSync(tar);
    const config = {
      id,
      ...(parent === undefined ? {} : { parent: parent.id }),
      created: "2016-05-01T12:00:00.000000000Z",
      container_config: { Cmd: ["/bin/sh", "-c", `#(nop) ADD ${seed}`] },
      config: { Env: ["PATH=/usr/bin:/bin"], Cmd: ["/bin/sh"] },
      architecture: "amd64",
      os: "linux",
      Size: tar.length,
    };
    const ancestry = [id, ...(parent?.ancestry ?? [])];
    const built: V1Built = {
      id,
      parent: parent?.id,
      ancestry,
      json: Buffer.from(JSON.stringify(config)),
      ancestryBytes: Buffer.from(`[${ancestry.map((a) => `"${a}"`).join(", ")}]`),
      tar,
      layer,
      digest: sha256Digest(layer),
      diffId: sha256Digest(tar),
    };
    out.push(built);
    parent = built;
  }
  return out;
}

/** Pulp's `<repo_id>.json` bytes (FORMATS.md §1.3). */
export function craneV1Text(meta: {
  repository: string;
  registryId: string;
  url: string;
  images: string[];
  tags: Record<string, string>;
}): string {
  const tags = Object.entries(meta.tags).map(([t, id]) => `"${t}": "${id}"`);
  return (
    `{"type":"pulp-docker-redirect","version":1,"repository":"${meta.repository}","repo-registry-id": ` +
    `"${meta.registryId}","url":"${meta.url}","protected":false,"images":[` +
    `${meta.images.map((id) => `{"id": "${id}"}`).join(",")}],"tags":{${tags.join(", ")}}}`
  );
}

export interface PulpExportSpec {
  repoId: string;
  registryId: string;
  images: V1Built[];
  tags: Record<string, string>;
  /** `web/` (Pulp 2.8+) or `<repo_id>/` (the documented variant). */
  layout?: "web" | "repo";
  /** Ids listed in `<repo_id>.json` (default: every image). */
  listed?: string[];
  /** Change the entries before they are written (hostile cases). */
  edit?: (entries: TarEntry[]) => TarEntry[];
}

/** Writes an export exactly as Pulp's SaveTarFilePublishStep did: root member "/", then the tree. */
export async function writePulpExport(path: string, spec: PulpExportSpec): Promise<void> {
  const base = spec.layout === "repo" ? spec.repoId : "web";
  let entries: TarEntry[] = [
    { name: "/", type: "directory", mode: 0o755 },
    { name: base, type: "directory", mode: 0o755 },
  ];
  for (const image of spec.images) {
    entries.push(
      { name: `${base}/${image.id}`, type: "directory", mode: 0o755 },
      { name: `${base}/${image.id}/ancestry`, data: image.ancestryBytes },
      { name: `${base}/${image.id}/layer`, data: image.layer },
      { name: `${base}/${image.id}/json`, data: image.json },
    );
  }
  entries.push({
    name: `${spec.repoId}.json`,
    data: craneV1Text({
      repository: spec.repoId,
      registryId: spec.registryId,
      url: `https://pulp.example.com/pulp/docker/v1/${spec.repoId}/`,
      images: spec.listed ?? spec.images.map((i) => i.id),
      tags: spec.tags,
    }),
  });
  if (spec.edit !== undefined) entries = spec.edit(entries);
  await writeTar(path, entries);
}

/** A pre-1.10 `docker save`: `<id>/{VERSION,json,layer.tar}` and `repositories`. */
export async function writeLegacyDockerSave(
  path: string,
  spec: { name: string; images: V1Built[]; tags: Record<string, string> },
): Promise<void> {
  const entries: TarEntry[] = [];
  for (const image of spec.images) {
    entries.push(
      { name: `${image.id}/`, type: "directory" },
      { name: `${image.id}/VERSION`, data: "1.0" },
      { name: `${image.id}/json`, data: image.json },
      { name: `${image.id}/layer.tar`, data: image.tar },
    );
  }
  entries.push({ name: "repositories", data: `${JSON.stringify({ [spec.name]: spec.tags })}\n` });
  await writeFile(path, tarBuffer(entries));
}

export interface VendorSite {
  url: string;
  /** Crane v1 metadata text listing the vendor images, url = this site. */
  metadata: string;
  /** Requests per path (`/vendor/<id>/layer` ...). */
  requests: Map<string, number>;
  layerRequests(): number;
  close(): Promise<void>;
}

/** Writes the vendor tree into `dir` and serves it on 127.0.0.1 under `/vendor/`. */
export async function startVendorSite(
  dir: string,
  images: V1Built[],
  registryId = "rhel7",
): Promise<VendorSite> {
  for (const image of images) {
    await mkdir(join(dir, image.id), { recursive: true });
    await writeFile(join(dir, image.id, "ancestry"), image.ancestryBytes);
    await writeFile(join(dir, image.id, "json"), image.json);
    await writeFile(join(dir, image.id, "layer"), image.layer);
  }
  const requests = new Map<string, number>();
  const root = normalize(dir) + sep;
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const file = normalize(join(dir, path.replace(/^\/vendor\//, "")));
    if (!path.startsWith("/vendor/") || !file.startsWith(root)) {
      res.writeHead(404).end();
      return;
    }
    stat(file).then(
      (info) => {
        if (!info.isFile()) return res.writeHead(404).end();
        res.writeHead(200, { "Content-Length": info.size, "Content-Type": "application/octet-stream" });
        if (req.method === "HEAD") return res.end();
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/vendor/`;
  return {
    url,
    metadata: craneV1Text({
      repository: registryId,
      registryId,
      url,
      images: images.map((i) => i.id),
      tags: { latest: images.at(-1)?.id ?? "" },
    }),
    requests,
    layerRequests: () => [...requests].filter(([p]) => p.endsWith("/layer")).reduce((n, [, c]) => n + c, 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
