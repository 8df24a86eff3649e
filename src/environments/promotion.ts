/**
 * What promoting one tag means, as pure functions over a repository's Crane v4 file: the tag's
 * manifest closure (an index, its children, their configs and layers), as a publication the
 * target environment merges with the same code a push uses; and the environments record.
 */
import type { Publication } from "../crane/publication.js";
import type { CraneV4, ManifestRecord } from "../crane/types.js";
import { UserError } from "../errors.js";
import type { Digest } from "../image/digest.js";
import { INDEX_TYPES } from "../image/media-types.js";
import { isRepositoryName, isTag } from "../image/names.js";

/** `<name>:<tag>`, checked against the distribution grammar (a digest is not a promotable reference). */
export function parseTagReference(ref: string, command: string): { name: string; tag: string } {
  const usage = (problem: string) =>
    new UserError(`cannot ${command} "${ref}": ${problem}`, {
      hint: "Name a tag: acme/app:1.0.",
      exitCode: 2,
      code: "USAGE",
    });
  if (ref.includes("@")) throw usage("a digest is not promoted by itself; name the tag that points at it");
  const colon = ref.lastIndexOf(":");
  if (colon <= ref.lastIndexOf("/")) throw usage("no tag given");
  const name = ref.slice(0, colon);
  const tag = ref.slice(colon + 1);
  if (!isRepositoryName(name)) throw usage(`"${name}" is not a valid repository name`);
  if (!isTag(tag)) throw usage(`"${tag}" is not a valid tag`);
  return { name, tag };
}

/** The manifests (root first) and blobs one tag needs, from the repository's records. */
export interface Closure {
  root: Digest;
  manifests: { digest: Digest; record: ManifestRecord }[];
  blobs: Publication["blobs"];
}

export function tagClosure(meta: CraneV4, digest: Digest, where: string): Closure {
  const ext = meta["x-raas"];
  const broken = (problem: string) =>
    new UserError(`${where}: ${problem}`, {
      hint: "Run `raas status` on that environment; push the image again to repair its metadata.",
      code: "METADATA_INCOMPLETE",
    });
  if (ext === undefined) throw broken("the metadata has no raas records");
  const manifests: Closure["manifests"] = [];
  const blobs = new Map<Digest, Publication["blobs"][number]>();
  const seen = new Set<Digest>();
  const visit = (d: Digest, depth: number) => {
    if (seen.has(d)) return;
    seen.add(d);
    const record = ext.manifests[d];
    if (record === undefined) throw broken(`manifest ${d} has no record`);
    manifests.push({ digest: d, record });
    if (INDEX_TYPES.has(record.mediaType)) {
      // An index lists image manifests; nested indexes are not something raas publishes.
      if (depth > 0) throw broken(`index ${d} is nested inside another index`);
      for (const child of record.refs) visit(child, depth + 1);
      return;
    }
    for (const ref of record.refs) {
      const blob = ext.blobs[ref];
      if (blob === undefined) throw broken(`blob ${ref} of manifest ${d} has no record`);
      blobs.set(ref, {
        digest: ref,
        size: blob.size,
        ...(blob.mediaType === undefined ? {} : { mediaType: blob.mediaType }),
        ...(blob.url === undefined ? {} : { url: blob.url }),
      });
    }
  };
  visit(digest, 0);
  return { root: digest, manifests, blobs: [...blobs.values()] };
}

/** The closure as a publication of `tag` into a repository at `url`. */
export function closurePublication(meta: CraneV4, closure: Closure, tag: string, url: string): Publication {
  return {
    name: meta["repo-registry-id"],
    repository: meta.repository,
    url,
    manifests: closure.manifests.map(({ digest, record }) => ({
      digest,
      mediaType: record.mediaType,
      size: record.size,
      refs: [...record.refs],
      ...(record.platform === undefined ? {} : { platform: { ...record.platform } }),
    })),
    blobs: closure.blobs,
    tags: { [tag]: closure.root },
  };
}
