import { parseMetadata } from "../crane/parse.js";
import { pythonJson } from "../crane/python-json.js";
import { UserError } from "../errors.js";
import { sha256Digest } from "../image/digest.js";
import { emptyRecord } from "../image/records.js";
import type { Blob } from "../image/model.js";
import { isV1Id, type V1Repository } from "../image/v1.js";
import type { BlobStore, ObjectInfo } from "../storage/types.js";
import type { Reporter } from "../ui/reporter.js";
import { blobKey } from "../crane/keys.js";
import { keepStored, mayReuse, type ReuseRule } from "./upload.js";
import { mapLimit } from "./pool.js";

export type V1Action = "uploaded" | "present" | "masked";

export interface V1PublishInput {
  store: BlobStore;
  reporter: Reporter;
  /** Storage prefix: the dashed repository name (FORMATS.md §5.3). */
  prefix: string;
  repo: V1Repository;
  isMasked(id: string): boolean;
  /** The v2 gzip blob of a present image's layer (the v1 `layer` has the same bytes). */
  layerBlob(id: string): Promise<Blob>;
  concurrency: number;
  publicRead: boolean;
  /** Which stored image files may be trusted, by image id (see ReuseRule); all when unset. */
  reuse?: ReuseRule;
}

/** `<prefix>/<image_id>/<file>`, the original tool's S3 layout; ids are checked first. */
export function v1Key(prefix: string, id: string, file: "ancestry" | "json" | "layer"): string {
  if (!isV1Id(id)) throw new Error(`refusing to build a key for image id ${JSON.stringify(id)}`);
  return `${prefix}/${id}/${file}`;
}

/**
 * Uploads every image the input holds, except masked (vendor) ones, as
 * `<prefix>/<id>/{layer,json,ancestry}`. The layer is copied server-side from the v2 blob
 * when that is already stored (same bytes), else streamed with its digest verified. The
 * ancestry file goes last: it is where a v1 client starts, so an interrupted push never
 * exposes an ancestry whose layers are missing.
 */
export async function publishV1Images(input: V1PublishInput): Promise<Record<string, V1Action>> {
  const { store, prefix, reporter } = input;
  const outcome = emptyRecord<V1Action>();
  const ids = [...input.repo.images.keys()];
  await mapLimit(ids, input.concurrency, async (id) => {
    if (input.isMasked(id)) {
      outcome[id] = "masked";
      return;
    }
    const image = input.repo.images.get(id);
    if (image === undefined) return;
    const blob = await input.layerBlob(id);
    const layerKey = v1Key(prefix, id, "layer");
    const jsonKey = v1Key(prefix, id, "json");
    const ancestryKey = v1Key(prefix, id, "ancestry");
    const [layerInfo, jsonInfo, ancestryInfo] = await Promise.all([
      store.head(layerKey),
      store.head(jsonKey),
      store.head(ancestryKey),
    ]);
    // Stored files count only if trusted or refreshed (garbage collection, see ReuseRule).
    const keep = async (key: string, info: ObjectInfo | undefined, size: number) =>
      info?.size === size &&
      (await keepStored(store, key, info, { rule: input.reuse, id, publicRead: input.publicRead }));
    const layerKept = await keep(layerKey, layerInfo, blob.size);
    if (
      layerKept &&
      (await keep(jsonKey, jsonInfo, image.json.length)) &&
      (await keep(ancestryKey, ancestryInfo, image.ancestryBytes.length))
    ) {
      outcome[id] = "present";
      return;
    }
    const options = { publicRead: input.publicRead };
    if (!layerKept) {
      const stored = await store.head(blobKey(prefix, blob.digest));
      if (stored?.size === blob.size && mayReuse(input.reuse, blob.digest, stored.lastModified)) {
        await store.copy(blobKey(prefix, blob.digest), layerKey, {
          contentType: "application/octet-stream",
          ...options,
        });
      } else {
        await store.put(layerKey, blob.open(), {
          digest: blob.digest,
          size: blob.size,
          contentType: "application/octet-stream",
          ...options,
        });
      }
    }
    for (const [file, bytes] of [
      ["json", image.json],
      ["ancestry", image.ancestryBytes],
    ] as const) {
      await store.put(v1Key(prefix, id, file), bytes, {
        digest: sha256Digest(bytes),
        size: bytes.length,
        contentType: "application/json",
        ...options,
      });
    }
    reporter.debug(`published v1 image ${id} under ${prefix}/${id}/`);
    outcome[id] = "uploaded";
  });
  return outcome;
}

export interface V1FileInput {
  name: string;
  prefix: string;
  url: string;
  /** Image ids the repository publishes (never masked ones), in input order. */
  images: string[];
  tags: Record<string, string>;
}

/**
 * The Crane v1 file, byte for byte as Pulp wrote it (FORMATS.md §1.3), merged with the
 * previous one: images and tags accumulate across pushes as they did in the Pulp repository.
 */
export function v1MetadataText(existing: string | undefined, file: string, input: V1FileInput): string {
  let images = input.images;
  let tags = input.tags;
  let isProtected = false;
  if (existing !== undefined) {
    const old = parseMetadata(existing, file);
    if (old.version !== 1 || old["repo-registry-id"] !== input.name) {
      throw new UserError(`${file} is not the Crane v1 file of ${input.name}; raas will not overwrite it`);
    }
    images = [...new Set([...old.images.map((i) => i.id), ...images])];
    tags = Object.assign(emptyRecord<string>(), old.tags, tags);
    isProtected = old.protected === true;
  }
  const header =
    `{"type":"pulp-docker-redirect","version":1,"repository":${JSON.stringify(input.prefix)},` +
    `"repo-registry-id": ${JSON.stringify(input.name)},"url":${JSON.stringify(input.url)},` +
    `"protected":${isProtected ? "true" : "false"},`;
  const body = `"images":[${images.map((id) => pythonJson({ id })).join(",")}],"tags":${pythonJson(tags)}}`;
  return header + body;
}
