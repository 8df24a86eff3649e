import type { Publication } from "../crane/publication.js";
import type { Digest } from "../image/digest.js";
import { blobsOf, manifestsOf, type Blob, type ManifestNode } from "../image/model.js";
import { ObjectNotFoundError, type BlobStore } from "../storage/types.js";
import type { Reporter } from "../ui/reporter.js";
import { manifestKey, tagsListKey } from "../crane/keys.js";
import type { MaskSet } from "./mask.js";
import { mapLimit } from "./pool.js";
import { findMissing, mayReuse, uploadBlobs, type BlobOutcome, type ReuseRule } from "./upload.js";

/** What a target contributes to the repository's metadata. */
export type PublicationData = Publication;

export interface PublishTargetInput {
  store: BlobStore;
  reporter: Reporter;
  name: string;
  /** Storage prefix and Crane `repository`: the dashed name. */
  repository: string;
  /** Crane `url`: where `<repository>/` lives in storage, ending in `/`. */
  url: string;
  tags: string[];
  root: ManifestNode;
  mask: MaskSet;
  /** Tags the repository already has, for `tags/list`. */
  existingTags: readonly string[];
  concurrency: number;
  publicRead: boolean;
  /** Which stored blobs the push may trust (garbage-collection safety); all when unset. */
  reuse?: ReuseRule;
}

export interface PublishTargetResult {
  blobs: BlobOutcome[];
  uploadedBytes: number;
  publication: PublicationData;
  /** Exact manifest bytes, for the app repository. */
  manifestFiles: { digest: Digest; bytes: Buffer }[];
  /** The manifests by digest, by tag and `tags/list` as stored, for the check after the commit. */
  smallObjects: SmallObject[];
}

/**
 * Publish one image or index to storage, in the only safe order: blobs (verified), then
 * manifests by digest, then manifests by tag and `tags/list`. The metadata commit that makes
 * the registry serve it comes after, from the caller. A crash anywhere in here leaves the
 * registry serving its previous state, because the registry resolves tags from metadata.
 */
export async function publishTarget(input: PublishTargetInput): Promise<PublishTargetResult> {
  const { store, reporter, repository } = input;
  const blobs = blobsOf(input.root);
  const configs = new Set(
    manifestsOf(input.root).flatMap((m) => (m.kind === "image" ? [m.config.digest] : [])),
  );

  const masked = new Map<string, string>();
  for (const blob of blobs) {
    if (configs.has(blob.digest)) continue;
    const entry = input.mask.match(blob);
    if (entry !== undefined) {
      masked.set(blob.digest, entry);
      reporter.info(`Skipping layer ${entry}`);
    }
  }
  const candidates = blobs.filter((b) => !masked.has(b.digest));
  const uploadOptions = {
    store,
    repository,
    reporter,
    concurrency: input.concurrency,
    publicRead: input.publicRead,
    ...(input.reuse === undefined ? {} : { reuse: input.reuse }),
  };
  const missing = await findMissing(candidates, uploadOptions);
  const missingSet = new Set(missing.map((b) => b.digest));
  if (candidates.length > missing.length) {
    reporter.info(`${candidates.length - missing.length} blob(s) already in storage, not uploaded again`);
  }
  const uploadedBytes = await uploadBlobs(missing, uploadOptions);

  // The small objects after the blobs, in order: manifests by digest, then by tag, then
  // `tags/list`. Those already stored with the same bytes are not written again, so the
  // re-push of an unchanged image makes no PUT at all.
  const manifests = manifestsOf(input.root);
  const allTags = [...new Set([...input.existingTags, ...input.tags])].sort();
  const writes: SmallObject[] = [
    ...manifests.map((node) => ({
      key: manifestKey(repository, node.mediaType, node.digest),
      bytes: node.bytes,
      contentType: node.mediaType,
      digest: node.digest,
    })),
    ...input.tags.map((tag) => ({
      key: manifestKey(repository, input.root.mediaType, tag),
      bytes: input.root.bytes,
      contentType: input.root.mediaType,
    })),
    {
      key: tagsListKey(repository),
      bytes: Buffer.from(JSON.stringify({ name: input.name, tags: allTags })),
      contentType: "application/json",
    },
  ];
  const unchanged = await mapLimit(writes, 16, (object) =>
    storedAlready(store, object, input.reuse, object.digest ?? input.root.digest),
  );
  for (const [i, object] of writes.entries()) {
    if (unchanged[i] === true) continue;
    await store.put(object.key, object.bytes, {
      contentType: object.contentType,
      ...(object.digest === undefined ? {} : { digest: object.digest, size: object.bytes.length }),
      publicRead: input.publicRead,
    });
  }

  const outcome = (blob: Blob): BlobOutcome => {
    const maskedBy = masked.get(blob.digest);
    const base = { digest: blob.digest, size: blob.size, mediaType: blob.mediaType };
    if (maskedBy !== undefined) return { ...base, action: "masked", maskedBy };
    return { ...base, action: missingSet.has(blob.digest) ? "uploaded" : "present" };
  };

  return {
    blobs: blobs.map(outcome),
    uploadedBytes,
    manifestFiles: manifests.map((m) => ({ digest: m.digest, bytes: m.bytes })),
    smallObjects: writes,
    publication: {
      name: input.name,
      repository,
      url: input.url,
      manifests: manifests.map((m) => {
        const refs =
          m.kind === "image"
            ? [m.config.digest, ...m.layers.map((l) => l.digest)]
            : m.manifests.map((c) => c.digest);
        const record: PublicationData["manifests"][number] = {
          digest: m.digest,
          mediaType: m.mediaType,
          size: m.bytes.length,
          refs,
        };
        if (m.kind === "image" && m.platform !== undefined) {
          const { architecture, os, variant } = m.platform;
          record.platform = variant === undefined ? { architecture, os } : { architecture, os, variant };
        }
        return record;
      }),
      // A masked vendor layer keeps its vendor URL, so the registry redirects its blob there.
      blobs: blobs.map((b) => ({
        digest: b.digest,
        size: b.size,
        mediaType: b.mediaType,
        ...(b.url !== undefined && masked.has(b.digest) ? { url: b.url } : {}),
      })),
      tags: Object.fromEntries(input.tags.map((t) => [t, input.root.digest])),
    },
  };
}

export interface SmallObject {
  key: string;
  bytes: Buffer;
  contentType: string;
  /** Content-addressed objects (manifests by digest) are only ever stored verified. */
  digest?: Digest;
}

/**
 * Whether `object` is stored already with the same bytes and content type. A manifest by digest
 * was verified when it was written, so its size is enough (as for blobs); a tag or `tags/list`
 * may have changed, so its bytes are read back (a few KiB) and compared.
 *
 * As for blobs (docs/gc.md), an identical object is only left alone when garbage collection
 * cannot be about to remove it: the metadata this push started from references `owner` (the
 * manifest itself, or for a tag object and `tags/list` the image they point at), or it was
 * written since the push began. Otherwise it is written again, which dates it anew: an image
 * deleted earlier and pushed again must not keep objects a running GC already marked as garbage.
 */
async function storedAlready(
  store: BlobStore,
  object: SmallObject,
  reuse: ReuseRule | undefined,
  owner: string,
): Promise<boolean> {
  const info = await store.head(object.key);
  if (info === undefined || info.size !== object.bytes.length || info.contentType !== object.contentType) {
    return false;
  }
  if (!mayReuse(reuse, owner, info.lastModified)) return false;
  if (object.digest !== undefined) return true;
  const stored = await store.getBuffer(object.key).catch((error: unknown) => {
    if (error instanceof ObjectNotFoundError) return undefined; // deleted in between: write it
    throw error;
  });
  return stored?.equals(object.bytes) === true;
}
