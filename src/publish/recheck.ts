import { blobsOf, type ManifestNode } from "../image/model.js";
import type { BlobStore } from "../storage/types.js";
import type { Reporter } from "../ui/reporter.js";
import { blobKey } from "../crane/keys.js";
import { mapLimit } from "./pool.js";
import type { SmallObject } from "./publish.js";
import { uploadBlobs, type BlobOutcome } from "./upload.js";

/**
 * After the metadata commit, make sure the blobs no earlier metadata referenced (uploaded or
 * refreshed by this push) are still there, and upload any that are not: a garbage collection
 * run that checked such a blob's date just before the push refreshed it may have deleted it
 * anyway (docs/gc.md, "Residual window"), as may one with a grace shorter than this push.
 * Once committed, the blob is marked by every later run. One HEAD per new blob.
 */
export async function restoreVanished(input: {
  store: BlobStore;
  reporter: Reporter;
  repository: string;
  root: ManifestNode;
  outcomes: readonly BlobOutcome[];
  referenced: ReadonlySet<string>;
  concurrency: number;
  publicRead: boolean;
}): Promise<number> {
  const stored = new Set(input.outcomes.filter((o) => o.action !== "masked").map((o) => o.digest));
  const seen = new Set<string>();
  const candidates = blobsOf(input.root).filter((blob) => {
    const check = stored.has(blob.digest) && !input.referenced.has(blob.digest) && !seen.has(blob.digest);
    seen.add(blob.digest);
    return check;
  });
  const found = await mapLimit(candidates, 16, (blob) =>
    input.store.head(blobKey(input.repository, blob.digest)),
  );
  const vanished = candidates.filter((_, i) => found[i] === undefined);
  if (vanished.length === 0) return 0;
  input.reporter.warn(
    `${vanished.length} blob(s) of ${input.repository} were collected by a concurrent \`raas gc\` while this push ran; uploading them again`,
  );
  await uploadBlobs(vanished, {
    store: input.store,
    repository: input.repository,
    reporter: input.reporter,
    concurrency: input.concurrency,
    publicRead: input.publicRead,
  });
  return vanished.length;
}

/**
 * After the metadata commit, the same for the small objects of a publication (manifests by
 * digest and by tag, `tags/list`): an identical one found in storage was left as it was, and a
 * deletion plus a garbage collection run between that look and the commit may have removed it.
 * A few HEADs per image; whatever is missing is written again.
 */
export async function restoreSmallObjects(input: {
  store: BlobStore;
  reporter: Reporter;
  repository: string;
  objects: readonly SmallObject[];
  publicRead: boolean;
}): Promise<number> {
  const found = await mapLimit([...input.objects], 16, (object) => input.store.head(object.key));
  const vanished = input.objects.filter((_, i) => found[i] === undefined);
  if (vanished.length === 0) return 0;
  input.reporter.warn(
    `${vanished.length} manifest object(s) of ${input.repository} were collected by a concurrent \`raas gc\` while this push ran; writing them again`,
  );
  for (const object of vanished) {
    await input.store.put(object.key, object.bytes, {
      contentType: object.contentType,
      ...(object.digest === undefined ? {} : { digest: object.digest, size: object.bytes.length }),
      publicRead: input.publicRead,
    });
  }
  return vanished.length;
}
