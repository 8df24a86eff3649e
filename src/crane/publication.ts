import { UserError } from "../errors.js";
import { isDigest, type Digest } from "../image/digest.js";
import { IMAGE_MANIFEST_TYPES, INDEX_TYPES } from "../image/media-types.js";
import { isRepositoryName, isTag } from "../image/names.js";
import { emptyRecord } from "../image/records.js";
import { isSafeSegment } from "./parse.js";
import { isHttpUrl, parseRaasExtension } from "./raas-extension.js";
import { serializeMetadata } from "./serialize.js";
import type { BlobRecord, CraneV4, ManifestRecord, RaasExtension } from "./types.js";

/** What one `raas push` published into one repository. */
export interface Publication {
  /** Repository name as clients pull it (`acme/bigdata-app`): Crane's `repo-registry-id`. */
  name: string;
  /** Storage prefix (`acme-bigdata-app`): Crane's `repository`. */
  repository: string;
  /** Redirect base URL of the repository's storage prefix. */
  url: string;
  manifests: {
    digest: Digest;
    mediaType: string;
    size: number;
    refs: Digest[];
    platform?: ManifestRecord["platform"];
  }[];
  blobs: { digest: Digest; size: number; mediaType?: string; url?: string }[];
  tags: Record<string, Digest>;
}

function check(pub: Publication): void {
  const bad = (problem: string) => new UserError(`cannot publish ${pub.name}: ${problem}`);
  if (!isRepositoryName(pub.name)) throw bad(`"${pub.name}" is not a valid repository name`);
  if (!isSafeSegment(pub.repository)) throw bad(`"${pub.repository}" is not a valid storage prefix`);
  // file: URLs name local-directory storage, which the registry serves itself (serve_content).
  if (!isHttpUrl(pub.url) && !/^file:\/\/\/\S+$/.test(pub.url)) {
    throw bad(`url "${pub.url}" is not an absolute http(s) or file URL`);
  }
  for (const m of pub.manifests) {
    if (!isDigest(m.digest)) throw bad(`bad manifest digest ${String(m.digest)}`);
  }
  for (const b of pub.blobs) if (!isDigest(b.digest)) throw bad(`bad blob digest ${String(b.digest)}`);
  for (const tag of Object.keys(pub.tags)) if (!isTag(tag)) throw bad(`"${tag}" is not a valid tag`);
}

/**
 * Merge a publication into a repository's v4 file: tags move to their new digest, manifests and
 * blobs accumulate (a digest once pullable stays pullable), and the three Crane lists are
 * recomputed from the merged extension so Crane and raas always agree.
 */
export function applyPublication(existing: CraneV4 | undefined, pub: Publication, now: Date): CraneV4 {
  check(pub);
  if (existing !== undefined && existing["repo-registry-id"] !== pub.name) {
    throw new UserError(
      `cannot publish ${pub.name}: the metadata file describes repository ${existing["repo-registry-id"]}`,
    );
  }
  const old = existing?.["x-raas"];
  const manifests: Record<Digest, ManifestRecord> = { ...old?.manifests };
  for (const m of pub.manifests) {
    const record: ManifestRecord = { mediaType: m.mediaType, size: m.size, refs: [...m.refs] };
    if (m.platform !== undefined) record.platform = { ...m.platform };
    manifests[m.digest] = record;
  }
  const blobs: Record<Digest, BlobRecord> = { ...old?.blobs };
  for (const b of pub.blobs) {
    const record: BlobRecord = { size: b.size };
    if (b.mediaType !== undefined) record.mediaType = b.mediaType;
    if (b.url !== undefined) record.url = b.url;
    blobs[b.digest] = record;
  }
  const build = (updated: string | undefined): CraneV4 => {
    const ext: RaasExtension = {
      version: 1,
      tags: Object.assign(emptyRecord<Digest>(), old?.tags, pub.tags),
      manifests,
      blobs,
    };
    if (updated !== undefined) ext.updated = updated;
    // Same checks the server applies when loading, so push never writes a file the server skips.
    const validated = parseRaasExtension(ext, `metadata for ${pub.name}`);
    return {
      type: "pulp-docker-redirect",
      version: 4,
      repository: pub.repository,
      "repo-registry-id": pub.name,
      url: pub.url,
      protected: existing?.protected ?? false,
      ...craneLists(validated),
      "x-raas": validated,
    };
  };
  // Publishing what is already published changes nothing, not even the timestamp, so a
  // re-push writes the same bytes and makes no commit.
  const unchanged = build(old?.updated);
  if (existing !== undefined && serializeMetadata(unchanged) === serializeMetadata(existing)) {
    return unchanged;
  }
  return build(now.toISOString());
}

const sorted = (values: Iterable<string>) => [...values].sort();

/** Pulp's redirect data, computed from the extension (FORMATS.md §1.6). */
export function craneLists(
  ext: RaasExtension,
): Pick<CraneV4, "schema2_data" | "manifest_list_data" | "manifest_list_amd64_tags"> {
  const images = Object.entries(ext.manifests).filter(([, m]) => IMAGE_MANIFEST_TYPES.has(m.mediaType));
  const lists = Object.entries(ext.manifests).filter(([, m]) => INDEX_TYPES.has(m.mediaType));
  const tagsTo = (digests: Set<string>) =>
    sorted(
      Object.entries(ext.tags)
        .filter(([, d]) => digests.has(d))
        .map(([t]) => t),
    );
  const imageSet = new Set(images.map(([d]) => d));
  const listSet = new Set(lists.map(([d]) => d));
  const amd64 = emptyRecord<[string, 1 | 2]>();
  for (const tag of tagsTo(listSet)) {
    const child = amd64Child(ext, ext.tags[tag] as Digest);
    if (child !== undefined) amd64[tag] = [child, 2];
  }
  return {
    schema2_data: [...sorted(imageSet), ...tagsTo(imageSet)],
    manifest_list_data: [...sorted(listSet), ...tagsTo(listSet)],
    manifest_list_amd64_tags: amd64,
  };
}

/** The linux/amd64 image of an index (the first one, in the index's own order). */
export function amd64Child(ext: RaasExtension, index: Digest): Digest | undefined {
  const record = ext.manifests[index];
  if (record === undefined || !INDEX_TYPES.has(record.mediaType)) return undefined;
  return record.refs.find((ref) => {
    const child = ext.manifests[ref];
    return (
      child !== undefined &&
      IMAGE_MANIFEST_TYPES.has(child.mediaType) &&
      child.platform?.os === "linux" &&
      child.platform.architecture === "amd64"
    );
  });
}
