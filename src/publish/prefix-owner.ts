/**
 * Who holds a storage prefix. A repository's prefix is its dashed name (`/` becomes `-`, the
 * Crane-compatible layout), which is not one-to-one: `users/ann/b-app` and `users/ann-b/app`
 * are both stored under `users-ann-b-app`, and share the metadata file `data/<isv>-users-ann-b-app.json`.
 * So every write into a prefix (the registry's blob upload, mount, manifest PUT with its tag
 * objects and `tags/list`; `raas push` before its first upload) asks here first whose prefix it
 * is, and is refused before anything is written when another repository holds it.
 *
 * A prefix is held by the repository its metadata names: the metadata file the name would be
 * written to, and any other metadata the caller has loaded whose `repository` is the prefix (the
 * registry's snapshot; it also covers names long enough for a hashed metadata file name). Only
 * when no metadata claims the prefix does the stored `<prefix>/tags/list` decide, whose `name`
 * is the repository that last published there: a repository whose last tag was deleted keeps
 * its prefix (its blobs stay in storage until `raas gc`). A prefix nobody has published to yet
 * is free: the first repository to publish there holds it (docs/push-api.md, security notes).
 */
import { tagsListKey } from "../crane/keys.js";
import { parseMetadata } from "../crane/parse.js";
import { UserError } from "../errors.js";
import { ObjectNotFoundError, type BlobStore } from "../storage/types.js";

/** What the caller knows of the metadata about a prefix. */
export interface PrefixMetadata {
  /**
   * The `repo-registry-id` in the metadata file the name would be published to
   * (`data/<isv>-<dashed>.json`), when that file exists; null when it exists but names nothing
   * readable (refused too: raas does not write over a file it cannot read).
   */
  metadataFile?: string | null | undefined;
  /** Repositories whose loaded metadata records the prefix as their `repository`. */
  loaded?: readonly string[] | undefined;
}

/** A write into a prefix that another repository holds. */
export class PrefixTakenError extends UserError {
  constructor(
    readonly repository: string,
    readonly prefix: string,
    readonly holder: string,
  ) {
    super(prefixTakenMessage(repository, prefix, holder), {
      code: "PREFIX_TAKEN",
      hint:
        "Storage prefixes replace / with -, so names that differ only there share one; publish " +
        "under a name without that clash (docs/push-api.md, security notes).",
    });
    this.name = "PrefixTakenError";
  }
}

export function prefixTakenMessage(repository: string, prefix: string, holder: string): string {
  return `${repository} would be stored under ${prefix}, which holds ${holder}`;
}

/** The `name` of a stored `tags/list`, or undefined when there is none (or it names nothing). */
export async function storedTagsListName(store: BlobStore, prefix: string): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await store.getBuffer(tagsListKey(prefix));
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw err;
  }
  try {
    const name = (JSON.parse(bytes.toString("utf8")) as { name?: unknown }).name;
    return typeof name === "string" ? name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The repository other than `name` that holds `prefix`, or undefined when `name` may write
 * there. Metadata decides first; the stored `tags/list` only when no metadata claims the prefix
 * (and is not read when the loaded metadata already says the prefix is `name`'s).
 */
export async function prefixHolder(
  store: BlobStore,
  name: string,
  prefix: string,
  known: PrefixMetadata,
): Promise<string | undefined> {
  if (known.metadataFile === null) return "an unreadable metadata file";
  const claims = [...(known.metadataFile === undefined ? [] : [known.metadataFile]), ...(known.loaded ?? [])];
  const other = claims.find((claimer) => claimer !== name);
  if (other !== undefined) return other;
  if (claims.length > 0) return undefined;
  const listed = await storedTagsListName(store, prefix);
  return listed !== undefined && listed !== name ? listed : undefined;
}

/** Throws a PrefixTakenError when another repository holds `prefix` (see prefixHolder). */
export async function refuseTakenPrefix(
  store: BlobStore,
  name: string,
  prefix: string,
  known: PrefixMetadata,
): Promise<void> {
  const holder = await prefixHolder(store, name, prefix, known);
  if (holder !== undefined) throw new PrefixTakenError(name, prefix, holder);
}

/** The `repo-registry-id` of a metadata file's text; null when the file is not valid metadata. */
export function metadataName(text: string | undefined, path: string): string | null | undefined {
  if (text === undefined) return undefined;
  try {
    return parseMetadata(text, path)["repo-registry-id"];
  } catch {
    return null;
  }
}
