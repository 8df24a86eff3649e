/**
 * `status --verify` for Crane v1 files (Pulp exports): a v1 `<repository>/<id>/layer` holds the
 * same bytes as the v2 layer blob it was converted to, so its digest is known. The v1 tag names
 * the top image; its `ancestry` (top first) lines up with the converted manifest's layers
 * (base first), which gives each image id its layer digest.
 */
import { createHash } from "node:crypto";
import type { CraneV4, RaasExtension } from "../crane/types.js";
import { errorMessage } from "../errors.js";
import { isDigest, type Digest } from "../image/digest.js";
import { isV1Id } from "../image/v1.js";
import { mapLimit } from "../publish/pool.js";
import type { BlobStore } from "../storage/types.js";
import type { StorageProblem } from "./status-storage.js";
import type { AppRepository } from "../app/app-repository.js";

export interface V1Layer {
  id: string;
  key: string;
  digest: Digest;
}

/** Largest ancestry file read (a chain of 2,000 ids is about 130 KB). */
const MAX_ANCESTRY_BYTES = 1024 * 1024;

/** The stored v1 layers whose digest the v2 conversion recorded. */
export async function v1LayerDigests(
  meta: CraneV4 & { "x-raas": RaasExtension },
  v1Tags: Readonly<Record<string, string>>,
  objects: Pick<ReadonlyMap<string, { size: number }>, "has" | "get">,
  app: AppRepository,
  store: BlobStore,
): Promise<V1Layer[]> {
  const repository = meta.repository;
  const found = new Map<string, V1Layer>();
  for (const [tag, top] of Object.entries(v1Tags)) {
    const manifestDigest = Object.hasOwn(meta["x-raas"].tags, tag) ? meta["x-raas"].tags[tag] : undefined;
    const ancestryKey = `${repository}/${top}/ancestry`;
    if (manifestDigest === undefined || !isV1Id(top) || found.has(top) || !objects.has(ancestryKey)) continue;
    if ((objects.get(ancestryKey)?.size ?? 0) > MAX_ANCESTRY_BYTES) continue;
    const layers = layerDigests(await app.read(`manifests/${repository}/${manifestDigest}`));
    const ancestry = await readAncestry(store, ancestryKey);
    if (layers === undefined || ancestry === undefined || ancestry.length !== layers.length) continue;
    const baseFirst = [...ancestry].reverse();
    baseFirst.forEach((id, index) => {
      const digest = layers[index];
      const key = `${repository}/${id}/layer`;
      if (digest !== undefined && isV1Id(id) && objects.has(key)) found.set(id, { id, key, digest });
    });
  }
  return [...found.values()];
}

function layerDigests(text: string | undefined): Digest[] | undefined {
  if (text === undefined) return undefined;
  try {
    const manifest: unknown = JSON.parse(text);
    const layers = (manifest as { layers?: unknown } | null)?.layers;
    if (!Array.isArray(layers)) return undefined;
    const digests = layers.map((l: unknown) => (l as { digest?: unknown } | null)?.digest);
    return digests.every(isDigest) ? digests : undefined;
  } catch {
    return undefined;
  }
}

async function readAncestry(store: BlobStore, key: string): Promise<string[] | undefined> {
  try {
    const parsed: unknown = JSON.parse((await store.getBuffer(key)).toString("utf8"));
    return Array.isArray(parsed) && parsed.every((id) => typeof id === "string") ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Re-hash each v1 layer; a mismatch is corruption (the v2 blob may well be intact). */
export async function verifyV1Layers(
  layers: readonly V1Layer[],
  store: BlobStore,
  concurrency: number,
): Promise<StorageProblem[]> {
  const results = await mapLimit(layers, concurrency, async (layer) => {
    try {
      const hash = createHash("sha256");
      for await (const chunk of await store.get(layer.key)) hash.update(chunk as Buffer);
      const actual = `sha256:${hash.digest("hex")}`;
      return actual === layer.digest
        ? undefined
        : `v1 layer of image ${layer.id} is corrupt in storage: ${layer.key} hashes to ${actual}, its layer is ${layer.digest}`;
    } catch (error) {
      return `cannot read v1 layer ${layer.key}: ${errorMessage(error)}`;
    }
  });
  return results
    .filter((detail): detail is string => detail !== undefined)
    .map((detail) => ({
      detail,
      fix: "delete the object, then push the image again: raas uploads what is missing",
    }));
}
