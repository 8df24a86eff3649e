/**
 * A pushed manifest, checked and turned into the image model `publishTarget` takes. Everything
 * a manifest references must already be in this repository's storage with the size the
 * descriptor states; an index's children are read back from storage and checked the same way.
 */
import { isDigest, sha256Digest, type Digest } from "../image/digest.js";
import { IMAGE_MANIFEST_TYPES, INDEX_TYPES } from "../image/media-types.js";
import type { Blob, ImageManifest, ManifestNode, Platform } from "../image/model.js";
import { isJsonObject } from "../image/records.js";
import { blobKey, manifestKey } from "../crane/keys.js";
import type { BlobStore } from "../storage/types.js";
import { RegistryError } from "./registry-error.js";

export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
/**
 * Each reference costs a storage round trip (and an index child a read of up to 4 MiB), so a
 * 4 MiB document could otherwise make one request cost thousands of them.
 */
export const MAX_REFERENCES = 1000;
/**
 * The most bytes of child manifests one index may make the registry read and hold: its distinct
 * children together. 1,000 children of 4 MiB each would be 4 GiB for one request of a few KiB
 * (an index listing one large manifest 1,000 times); a real multi-platform index lists a few
 * children of a few KiB.
 */
export const MAX_INDEX_CHILDREN_BYTES = 16 * 1024 * 1024;
/**
 * The most blobs and manifests one PUT may make the registry look up in storage, an index's
 * children and their configs and layers included: 1,000 children of 1,000 layers each would be
 * a million round trips.
 */
export const MAX_LOOKUPS = 10_000;

type Json = Record<string, unknown>;

interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  platform?: Platform;
}

const invalid = (message: string, detail?: unknown) =>
  new RegistryError(400, "MANIFEST_INVALID", message, detail);

function asObject(value: unknown): Json | undefined {
  return isJsonObject(value) ? value : undefined;
}

function descriptor(value: unknown, where: string): Descriptor {
  const d = asObject(value);
  if (d === undefined) throw invalid(`${where} is not a descriptor`);
  const { mediaType, digest, size } = d;
  if (typeof mediaType !== "string" || mediaType.length > 255) throw invalid(`${where} has no mediaType`);
  if (!isDigest(digest)) {
    throw invalid(`${where} has an invalid digest`, { digest: String(digest).slice(0, 100) });
  }
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${where} has an invalid size`);
  }
  const result: Descriptor = { mediaType, digest, size };
  const p = asObject(d.platform);
  if (p !== undefined && typeof p.architecture === "string" && typeof p.os === "string") {
    result.platform = { architecture: p.architecture, os: p.os };
    if (typeof p.variant === "string") result.platform.variant = p.variant;
  }
  return result;
}

function parse(bytes: Buffer, contentType: string): Json {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw invalid("manifest is not JSON");
  }
  const json = asObject(doc);
  if (json === undefined) throw invalid("manifest is not a JSON object");
  // Type confusion (CVE-2021-41190): the document's own mediaType must agree with the header.
  if (json.mediaType !== undefined && json.mediaType !== contentType) {
    throw invalid(
      `manifest mediaType ${JSON.stringify(json.mediaType).slice(0, 100)} does not match Content-Type ${contentType}`,
    );
  }
  return json;
}

export interface CheckedManifest {
  root: ManifestNode;
  subject?: Digest;
}

/** Check `bytes` (of type `contentType`) against what `repository` holds in `store`. */
export async function checkManifest(
  store: BlobStore,
  repository: string,
  bytes: Buffer,
  contentType: string,
): Promise<CheckedManifest> {
  const json = parse(bytes, contentType);
  const digest = sha256Digest(bytes);
  const budget = { lookups: MAX_LOOKUPS };
  const subject = json.subject === undefined ? undefined : descriptor(json.subject, "subject").digest;
  const withSubject = (root: ManifestNode): CheckedManifest =>
    subject === undefined ? { root } : { root, subject };
  if (IMAGE_MANIFEST_TYPES.has(contentType)) {
    return withSubject(await imageNode(store, repository, json, digest, contentType, bytes, budget));
  }
  if (!INDEX_TYPES.has(contentType)) {
    throw invalid(`unsupported manifest media type ${contentType.slice(0, 100)}`);
  }
  if ("config" in json || "layers" in json) throw invalid("an index has no config or layers");
  if (!Array.isArray(json.manifests)) throw invalid("an index needs a manifests array");
  if (json.manifests.length > MAX_REFERENCES) {
    throw invalid(`an index may list at most ${MAX_REFERENCES} manifests`);
  }
  const children: ImageManifest[] = [];
  // A child listed again (another platform entry for the same manifest) is read and checked once.
  const checked = new Map<Digest, ImageManifest>();
  let childBytesTotal = 0;
  for (const [i, entry] of json.manifests.entries()) {
    const child = descriptor(entry, `manifests[${i}]`);
    if (!IMAGE_MANIFEST_TYPES.has(child.mediaType)) {
      throw invalid(`manifests[${i}]: only image manifests can be listed (${child.mediaType.slice(0, 100)})`);
    }
    if (child.size > MAX_MANIFEST_SIZE) {
      throw invalid(`manifests[${i}] is larger than ${MAX_MANIFEST_SIZE} bytes`);
    }
    const seen = checked.get(child.digest);
    if (seen !== undefined) {
      if (seen.bytes.length !== child.size) throw invalid(`manifests[${i}] has the wrong size`);
      const again: ImageManifest = { ...seen };
      if (child.platform === undefined) delete again.platform;
      else again.platform = child.platform;
      children.push(again);
      continue;
    }
    childBytesTotal += child.size;
    if (childBytesTotal > MAX_INDEX_CHILDREN_BYTES) {
      throw invalid(`the manifests an index lists may total at most ${MAX_INDEX_CHILDREN_BYTES} bytes`);
    }
    spend(budget);
    const key = manifestKey(repository, child.mediaType, child.digest);
    const info = await store.head(key);
    if (info === undefined || info.size !== child.size) {
      throw new RegistryError(
        400,
        "MANIFEST_BLOB_UNKNOWN",
        "a manifest the index lists is not in this repository",
        {
          digest: child.digest,
        },
      );
    }
    const childBytes = await store.getBuffer(key);
    if (sha256Digest(childBytes) !== child.digest) {
      throw invalid(`manifests[${i}] does not match its digest in storage`);
    }
    const node = await imageNode(
      store,
      repository,
      parse(childBytes, child.mediaType),
      child.digest,
      child.mediaType,
      childBytes,
      budget,
    );
    if (child.platform !== undefined) node.platform = child.platform;
    checked.set(child.digest, node);
    children.push(node);
  }
  return withSubject({ kind: "index", digest, mediaType: contentType, bytes, manifests: children });
}

async function imageNode(
  store: BlobStore,
  repository: string,
  json: Json,
  digest: Digest,
  mediaType: string,
  bytes: Buffer,
  budget: { lookups: number },
): Promise<ImageManifest> {
  if ("manifests" in json) throw invalid("an image manifest has no manifests list");
  if (!Array.isArray(json.layers)) throw invalid("an image manifest needs a layers array");
  if (json.layers.length > MAX_REFERENCES) {
    throw invalid(`an image manifest may have at most ${MAX_REFERENCES} layers`);
  }
  const config = await present(store, repository, descriptor(json.config, "config"), budget);
  const layers: Blob[] = [];
  for (const [i, layer] of json.layers.entries()) {
    layers.push(await present(store, repository, descriptor(layer, `layers[${i}]`), budget));
  }
  return { kind: "image", digest, mediaType, bytes, config, layers };
}

/** Count one storage lookup against the PUT's budget (MAX_LOOKUPS). */
function spend(budget: { lookups: number }): void {
  if (--budget.lookups < 0) {
    throw invalid(`a manifest may reference at most ${MAX_LOOKUPS} blobs and manifests in all`);
  }
}

async function present(
  store: BlobStore,
  repository: string,
  d: Descriptor,
  budget: { lookups: number },
): Promise<Blob> {
  spend(budget);
  const key = blobKey(repository, d.digest);
  const info = await store.head(key);
  if (info === undefined || info.size !== d.size) {
    throw new RegistryError(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", { digest: d.digest });
  }
  return {
    digest: d.digest,
    size: d.size,
    mediaType: d.mediaType,
    origin: key,
    // Already in storage (checked above), so publishTarget never uploads it again.
    open: () => {
      throw new Error(`${key} is already stored`);
    },
  };
}
