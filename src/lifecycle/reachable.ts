/**
 * The mark phase of garbage collection: every storage key the metadata can lead a client to.
 * Pure: Crane metadata in, key sets out (layout: src/publish/keys.ts, FORMATS.md §4.3).
 */
import type { CraneMetadata } from "../crane/types.js";
import { isDigest, type Digest } from "../image/digest.js";
import { IMAGE_MANIFEST_TYPES } from "../image/media-types.js";
import { isV1Id } from "../image/v1.js";
import { blobKey, manifestKey, tagsListKey } from "../crane/keys.js";

export interface Reachable {
  /** Exact keys the metadata references. */
  keys: Set<string>;
  /**
   * Storage prefixes kept whole: repositories described by metadata raas cannot enumerate
   * (Crane v2/v3 files, v4 without raas records). Nothing under them is ever collected.
   */
  wholeRepositories: Set<string>;
}

/**
 * What the sweep asks of marks: whether a key is marked. `raas status` answers it from a flag per
 * listed object (status-storage.ts) rather than a set of 100,000s of keys.
 */
export interface ReachableView {
  keys: { has(key: string): boolean };
  wholeRepositories: ReadonlySet<string>;
}

export function emptyReachable(): Reachable {
  return { keys: new Set(), wholeRepositories: new Set() };
}

const V1_FILES = ["ancestry", "json", "layer"] as const;

/** Add what one metadata file references. Masked vendor layers (a `url`) are not ours: skipped. */
export function markMetadata(reachable: Reachable, meta: CraneMetadata): void {
  const repository = meta.repository;
  if (meta.version === 1) {
    for (const image of meta.images) {
      if (!isV1Id(image.id)) continue;
      for (const file of V1_FILES) reachable.keys.add(`${repository}/${image.id}/${file}`);
    }
    return;
  }
  const ext = meta.version === 4 ? meta["x-raas"] : undefined;
  if (ext === undefined) {
    reachable.wholeRepositories.add(repository);
    return;
  }
  const keys = reachable.keys;
  keys.add(tagsListKey(repository));
  const hosted = new Set<string>();
  for (const [digest, record] of Object.entries(ext.blobs)) {
    if (record.url !== undefined) hosted.add(digest);
    else if (isDigest(digest)) keys.add(blobKey(repository, digest));
  }
  for (const [digest, record] of Object.entries(ext.manifests) as [
    Digest,
    (typeof ext.manifests)[Digest],
  ][]) {
    keys.add(manifestKey(repository, record.mediaType, digest));
    // Belt and braces: an image's config and layers even if the blob table missed one.
    if (IMAGE_MANIFEST_TYPES.has(record.mediaType)) {
      for (const ref of record.refs) {
        if (!hosted.has(ref) && isDigest(ref)) keys.add(blobKey(repository, ref));
      }
    }
  }
  for (const [tag, digest] of Object.entries(ext.tags)) {
    const record = ext.manifests[digest];
    if (record !== undefined) keys.add(manifestKey(repository, record.mediaType, tag));
  }
}

export function isReachable(reachable: ReachableView, key: string): boolean {
  if (reachable.keys.has(key)) return true;
  const slash = key.indexOf("/");
  return slash > 0 && reachable.wholeRepositories.has(key.slice(0, slash));
}
