import { digestHex, isDigest, type Digest } from "../image/digest.js";
import { INDEX_TYPES } from "../image/media-types.js";
import { isTag } from "../image/names.js";

/**
 * Storage key layout, the Pulp v2 web layout (FORMATS.md §4.3), under the repository's
 * dashed name so Crane-style URLs `<url>/blobs/<digest>` and `<url>/manifests/2/<ref>` work.
 * push writes these keys, status checks them and the registry server redirects to them:
 *   <repo>/blobs/sha256:<hex>
 *   <repo>/manifests/2/<tag|digest>      image manifests (Docker schema 2 and OCI)
 *   <repo>/manifests/list/<tag|digest>   manifest lists and OCI indexes
 *   <repo>/tags/list
 */
export function blobKey(repository: string, digest: Digest): string {
  if (!isDigest(digest)) throw new Error(`refusing to build a key for digest ${JSON.stringify(digest)}`);
  return `${repository}/blobs/sha256:${digestHex(digest)}`;
}

export function manifestDir(mediaType: string): "2" | "list" {
  return INDEX_TYPES.has(mediaType) ? "list" : "2";
}

export function manifestKey(repository: string, mediaType: string, reference: string): string {
  if (!isDigest(reference) && !isTag(reference)) {
    throw new Error(`refusing to build a key for reference ${JSON.stringify(reference)}`);
  }
  return `${repository}/manifests/${manifestDir(mediaType)}/${reference}`;
}

export function tagsListKey(repository: string): string {
  return `${repository}/tags/list`;
}
