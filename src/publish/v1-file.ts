import { parseMetadata } from "../crane/parse.js";
import { UserError } from "../errors.js";
import { v1MetadataText } from "./v1-publish.js";

/**
 * The repository's Crane v1 file (Pulp exports) without the given tags, in the byte format
 * push writes. Images stay: v1 clients resolve ids through the registry's global index.
 */
export function v1WithoutTags(text: string, file: string, removed: readonly string[]): string {
  const meta = parseMetadata(text, file);
  if (meta.version !== 1) throw new UserError(`${file} is not a Crane v1 file; nothing was deleted`);
  const tags = Object.fromEntries(Object.entries(meta.tags).filter(([tag]) => !removed.includes(tag)));
  if (Object.keys(tags).length === Object.keys(meta.tags).length) return text;
  const rendered = v1MetadataText(undefined, file, {
    name: meta["repo-registry-id"],
    prefix: meta.repository,
    url: meta.url,
    images: meta.images.map((i) => i.id),
    tags,
  });
  // v1MetadataText writes a fresh file as unprotected; keep the flag the file had.
  return meta.protected === true ? rendered.replace('"protected":false,', '"protected":true,') : rendered;
}
