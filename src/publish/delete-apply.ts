/**
 * The deletion of one tag or manifest inside an app-repository transaction, shared by `raas
 * delete` and the registry's `DELETE /v2/<name>/manifests/<reference>` so the two can never
 * disagree: the Crane v4 file is read, planned with planDeletion, and what the plan leaves is
 * written (or the repository's files removed when it lost its last tag). Storage is not touched
 * here but for `<repository>/tags/list`, rewritten after the commit.
 */
import { manifestKey, tagsListKey } from "../crane/keys.js";
import { parseMetadata } from "../crane/parse.js";
import { serializeMetadata } from "../crane/serialize.js";
import type { CraneV4 } from "../crane/types.js";
import { UserError } from "../errors.js";
import type { RemovedImages } from "../events/push-events.js";
import { isDigest, type Digest } from "../image/digest.js";
import { dashed, metadataFileName } from "../image/names.js";
import type { MetadataFiles } from "./metadata-commit.js";
import { v1MetadataPath } from "./v1-push.js";
import { forgetReferrer } from "./referrers.js";
import { ObjectNotFoundError, type BlobStore } from "../storage/types.js";
import { planDeletion, type DeleteReference, type DeletionPlan } from "./deletion.js";
import { v1WithoutTags } from "./v1-file.js";

/** What one deletion did inside its transaction. */
export interface DeletionDone {
  /** The metadata before the deletion (the records its events describe). */
  before: CraneV4;
  plan: DeletionPlan;
}

/**
 * Delete `reference` in the app repository files of one transaction (called again when the
 * transaction is recomputed on a newer state). Throws a UserError (code NOT_FOUND, IN_USE, ...)
 * when there is nothing to delete or the deletion is refused.
 */
export async function deleteInFiles(
  files: MetadataFiles,
  isv: string,
  reference: DeleteReference,
  now: Date,
): Promise<DeletionDone> {
  const name = reference.name;
  const metadataPath = `data/${metadataFileName(isv, name)}`;
  const before = await readV4((p) => files.read(p), metadataPath, name, isv);
  const plan = planDeletion(before, reference, now);
  await applyPlan(files, plan, before, metadataPath, v1MetadataPath(isv, name));
  return { before, plan };
}

/** What a deletion removed, with the manifest records the events describe. */
export function removedImages(name: string, before: CraneV4, plan: DeletionPlan): RemovedImages {
  const ext = before["x-raas"];
  const record = (digest: string) => {
    const m = ext?.manifests[digest as Digest];
    return { digest, mediaType: m?.mediaType ?? "", size: m?.size ?? 0 };
  };
  return {
    repository: name,
    tags: plan.removedTags.map((tag) => ({ tag, ...record(ext?.tags[tag] ?? "") })),
    manifests: plan.removedManifests.map(record),
  };
}

/** Rewrite `<repository>/tags/list` after a commit (Crane clients read it from storage). */
export async function writeTagsList(store: BlobStore, name: string, next: CraneV4): Promise<void> {
  const tags = Object.keys(next["x-raas"]?.tags ?? {}).sort();
  await store.put(tagsListKey(next.repository), Buffer.from(JSON.stringify({ name, tags })), {
    contentType: "application/json",
  });
}

/** Write what a deletion plan leaves (or remove the files of a repository that lost its last tag). */
export async function applyPlan(
  files: MetadataFiles,
  plan: DeletionPlan,
  current: CraneV4,
  metadataPath: string,
  v1Path: string,
): Promise<void> {
  const repository = current.repository;
  // The manifests the registry serves live beside the metadata (manifests/<repository>/<digest>).
  for (const digest of plan.removedManifests) await files.remove(`manifests/${repository}/${digest}`);
  const v1Text = await files.read(v1Path);
  if (plan.next === undefined) {
    await files.remove(metadataPath);
    if (v1Text !== undefined) await files.remove(v1Path);
    return;
  }
  await files.write(metadataPath, serializeMetadata(plan.next));
  if (v1Text !== undefined) {
    const next = v1WithoutTags(v1Text, v1Path, plan.removedTags);
    if (next !== v1Text) await files.write(v1Path, next);
  }
}

/** The Crane v4 metadata of `name`, checked to be a file raas wrote for it. */
export async function readV4(
  read: (path: string) => Promise<string | undefined>,
  path: string,
  name: string,
  isv: string,
): Promise<CraneV4> {
  const text = await read(path);
  if (text === undefined) {
    throw new UserError(`${isv} has no repository ${name} (no ${path} in the app repository)`, {
      hint: `\`raas status ${isv}\` lists the published repositories.`,
      code: "NOT_FOUND",
    });
  }
  const meta = parseMetadata(text, path);
  if (meta.version !== 4) {
    throw new UserError(
      `${path} is Crane metadata version ${meta.version}; raas deletes only from version 4 files it wrote`,
    );
  }
  if (meta["repo-registry-id"] !== name || meta.repository !== dashed(name)) {
    throw new UserError(`${path} describes ${meta["repo-registry-id"]}, not ${name}; nothing was deleted`);
  }
  return meta;
}

/**
 * After a committed deletion: take each removed manifest that has a `subject` out of the
 * referrers listing of that subject (the manifest objects stay in storage until `raas gc`, so
 * their subject is read from there). Returns how many listings changed.
 */
export async function forgetRemovedReferrers(store: BlobStore, done: DeletionDone): Promise<number> {
  const repository = done.before.repository;
  const records = done.before["x-raas"]?.manifests ?? {};
  let forgotten = 0;
  for (const digest of done.plan.removedManifests) {
    const record = records[digest];
    if (record === undefined) continue;
    let subject: unknown;
    try {
      const doc = JSON.parse(
        (await store.getBuffer(manifestKey(repository, record.mediaType, digest))).toString("utf8"),
      ) as {
        subject?: { digest?: unknown };
      };
      subject = doc.subject?.digest;
    } catch (err) {
      if (err instanceof ObjectNotFoundError || err instanceof SyntaxError) continue;
      throw err;
    }
    if (!isDigest(subject)) continue;
    await forgetReferrer(store, repository, subject, digest);
    forgotten += 1;
  }
  return forgotten;
}
