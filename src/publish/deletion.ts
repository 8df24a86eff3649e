/**
 * Deleting a tag or a manifest from one repository's metadata: pure planning over a Crane v4
 * file. Storage is never touched here; what the metadata stops referencing is garbage that
 * `raas gc` collects once it is older than the grace period (docs/gc.md).
 */
import { craneLists } from "../crane/publication.js";
import { parseRaasExtension } from "../crane/raas-extension.js";
import type { CraneV4, ManifestRecord, RaasExtension } from "../crane/types.js";
import { UserError } from "../errors.js";
import { isDigest, type Digest } from "../image/digest.js";
import { INDEX_TYPES } from "../image/media-types.js";
import { isRepositoryName, isTag } from "../image/names.js";

export type DeleteReference = { name: string; tag: string } | { name: string; digest: Digest };

/** `<name>:<tag>` or `<name>@sha256:<hex>`, checked against the distribution grammar. */
export function parseDeleteReference(ref: string): DeleteReference {
  const usage = (problem: string) =>
    new UserError(`cannot delete "${ref}": ${problem}`, {
      hint: "Name a tag (acme/app:1.0) or a manifest digest (acme/app@sha256:<64 hex digits>).",
      exitCode: 2,
      code: "USAGE",
    });
  const at = ref.indexOf("@");
  if (at >= 0) {
    const name = ref.slice(0, at);
    const digest = ref.slice(at + 1);
    if (!isRepositoryName(name)) throw usage(`"${name}" is not a valid repository name`);
    if (!isDigest(digest)) throw usage(`"${digest}" is not a sha256 digest`);
    return { name, digest };
  }
  const colon = ref.lastIndexOf(":");
  if (colon <= ref.lastIndexOf("/")) throw usage("no tag or digest given");
  const name = ref.slice(0, colon);
  const tag = ref.slice(colon + 1);
  if (!isRepositoryName(name)) throw usage(`"${name}" is not a valid repository name`);
  if (!isTag(tag)) throw usage(`"${tag}" is not a valid tag`);
  return { name, tag };
}

export interface DeletionPlan {
  /** The file to write, or undefined when the repository loses its last tag (file removed). */
  next: CraneV4 | undefined;
  removedTags: string[];
  removedManifests: Digest[];
  /** Blobs the repository no longer references (garbage for `raas gc`). */
  removedBlobs: Digest[];
}

/**
 * Remove a tag (its manifest stays pullable by digest while the repository has tags), or a
 * manifest with every tag pointing at it and, for an index, the children no remaining manifest
 * or tag uses. Deleting a manifest that a remaining index lists is refused: it would break
 * that index. The last tag removed removes the repository.
 */
export function planDeletion(meta: CraneV4, ref: DeleteReference, now: Date): DeletionPlan {
  const name = meta["repo-registry-id"];
  const ext = meta["x-raas"];
  if (ext === undefined) {
    throw new UserError(`${name} has no raas records in its metadata; raas deletes only what it published`, {
      hint: "Edit the Crane metadata file in the app repository by hand.",
    });
  }
  const tags = { ...ext.tags };
  const manifests: Record<Digest, ManifestRecord> = { ...ext.manifests };
  const removedTags: string[] = [];
  const removedManifests: Digest[] = [];

  if ("tag" in ref) {
    if (tags[ref.tag] === undefined) {
      throw new UserError(`${name} has no tag ${ref.tag}`, {
        hint: known("tags", Object.keys(tags)),
        code: "NOT_FOUND",
      });
    }
    delete tags[ref.tag];
    removedTags.push(ref.tag);
  } else {
    if (manifests[ref.digest] === undefined) {
      throw new UserError(`${name} has no manifest ${ref.digest}`, {
        hint: known("tagged manifests", [...new Set(Object.values(tags))]),
        code: "NOT_FOUND",
      });
    }
    const parents = Object.entries(manifests)
      .filter(
        ([digest, m]) => digest !== ref.digest && INDEX_TYPES.has(m.mediaType) && m.refs.includes(ref.digest),
      )
      .map(([digest]) => digest);
    if (parents.length > 0) {
      throw new UserError(
        `${name}@${ref.digest} is part of index ${parents.join(", ")}; deleting it would break the index`,
        {
          hint: `Delete the index instead: raas delete <isv> ${name}@${parents[0] ?? ""}`,
          code: "IN_USE",
        },
      );
    }
    removeManifest(ref.digest, manifests, tags, removedTags, removedManifests);
  }

  if (Object.keys(tags).length === 0) {
    return {
      next: undefined,
      removedTags,
      removedManifests: [...new Set([...removedManifests, ...(Object.keys(manifests) as Digest[])])],
      removedBlobs: Object.keys(ext.blobs) as Digest[],
    };
  }
  const used = new Set(Object.values(manifests).flatMap((m) => m.refs));
  const blobs = Object.fromEntries(
    Object.entries(ext.blobs).filter(([digest]) => used.has(digest as Digest)),
  );
  const removedBlobs = (Object.keys(ext.blobs) as Digest[]).filter((d) => !used.has(d));
  const nextExt: RaasExtension = { version: 1, tags, manifests, blobs, updated: now.toISOString() };
  // The same checks the server applies when it loads the file.
  const validated = parseRaasExtension(nextExt, `metadata for ${name}`);
  return {
    next: { ...meta, ...craneLists(validated), "x-raas": validated },
    removedTags,
    removedManifests,
    removedBlobs,
  };
}

/** Remove a manifest, its tags, and (for an index) children nothing else still uses. */
function removeManifest(
  digest: Digest,
  manifests: Record<Digest, ManifestRecord>,
  tags: Record<string, Digest>,
  removedTags: string[],
  removedManifests: Digest[],
): void {
  const record = manifests[digest];
  if (record === undefined) return;
  delete manifests[digest];
  removedManifests.push(digest);
  for (const [tag, target] of Object.entries(tags)) {
    if (target === digest) {
      delete tags[tag];
      removedTags.push(tag);
    }
  }
  if (!INDEX_TYPES.has(record.mediaType)) return;
  for (const child of record.refs) {
    const tagged = Object.values(tags).includes(child);
    const listed = Object.values(manifests).some(
      (m) => INDEX_TYPES.has(m.mediaType) && m.refs.includes(child),
    );
    if (!tagged && !listed) removeManifest(child, manifests, tags, removedTags, removedManifests);
  }
}

function known(what: string, values: string[]): string {
  if (values.length === 0) return `It has no ${what}.`;
  const shown = values.slice(0, 10).join(", ");
  return `Its ${what}: ${shown}${values.length > 10 ? `, and ${values.length - 10} more` : ""}.`;
}

/**
 * Remove several tags of one repository at once (retention): the plans of each tag in turn,
 * merged into one. The last tag removed removes the repository, as with one tag.
 */
export function planTagDeletions(meta: CraneV4, tags: readonly string[], now: Date): DeletionPlan {
  const name = meta["repo-registry-id"];
  let current: CraneV4 | undefined = meta;
  const merged: DeletionPlan = { next: meta, removedTags: [], removedManifests: [], removedBlobs: [] };
  for (const tag of tags) {
    if (current === undefined) break;
    const plan = planDeletion(current, { name, tag }, now);
    merged.removedTags.push(...plan.removedTags);
    merged.removedManifests.push(...plan.removedManifests);
    merged.removedBlobs.push(...plan.removedBlobs);
    current = plan.next;
  }
  merged.next = current;
  merged.removedManifests = [...new Set(merged.removedManifests)];
  merged.removedBlobs = [...new Set(merged.removedBlobs)];
  return merged;
}
