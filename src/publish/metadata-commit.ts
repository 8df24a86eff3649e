/**
 * The metadata half of a publication, shared by `raas push` and the registry's manifest PUT so
 * the two can never disagree: the Crane v4 file is recomputed with applyPublication and the
 * exact manifest bytes are written beside it, inside one app-repository transaction.
 */
import { parseMetadata } from "../crane/parse.js";
import { applyPublication } from "../crane/publication.js";
import { serializeMetadata } from "../crane/serialize.js";
import type { CraneV4 } from "../crane/types.js";
import { UserError } from "../errors.js";
import type { PublishTargetResult } from "./publish.js";

/** Files of the app repository inside one transaction. */
export interface MetadataFiles {
  read(path: string): Promise<string | undefined>;
  write(path: string, data: string | Buffer): Promise<void>;
  /** Remove a file (missing is fine); the commit records the removal. */
  remove(path: string): Promise<void>;
}

/** Who made a change: the commit's author. */
export interface CommitAuthor {
  name: string;
  email: string;
}

/**
 * The port through which a publication's metadata reaches the app repository. The CLI passes
 * its GitAppRepository; the registry server gets one from its entry point (server/git-metadata.ts).
 * `update` starts from the remote's newest commit and calls `change` again when another writer
 * won the race, so concurrent publications merge by recomputation.
 */
export interface MetadataCommitPort {
  update(
    message: string,
    change: (files: MetadataFiles) => Promise<void>,
    author?: CommitAuthor,
  ): Promise<{ commit: string | undefined; attempts: number }>;
  read(path: string): Promise<string | undefined>;
}

export interface TargetMetadata {
  /** `data/<isv>-<dashed name>.json`. */
  metadataPath: string;
  result: PublishTargetResult;
}

/** Merge each publication into its metadata file and store its manifests' exact bytes. */
export async function writePublications(
  files: MetadataFiles,
  publications: readonly TargetMetadata[],
  now: Date,
): Promise<void> {
  for (const { metadataPath, result } of publications) {
    const text = await files.read(metadataPath);
    const current = text === undefined ? undefined : asV4(parseMetadata(text, metadataPath), metadataPath);
    const next = applyPublication(current, result.publication, now);
    for (const manifest of result.manifestFiles) {
      await files.write(`manifests/${result.publication.repository}/${manifest.digest}`, manifest.bytes);
    }
    // applyPublication keeps an unchanged file as it was: identical bytes, no commit.
    const serialized = serializeMetadata(next);
    if (serialized !== text) await files.write(metadataPath, serialized);
  }
}

export function asV4(meta: ReturnType<typeof parseMetadata>, path: string): CraneV4 | undefined {
  if (meta.version === 4) return meta;
  throw new UserError(`${path} is Crane metadata version ${meta.version}; raas push writes version 4`, {
    hint: "Move the old file aside (or publish under another name); raas will not overwrite metadata it did not write.",
  });
}
