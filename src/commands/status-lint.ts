/**
 * The metadata linter behind `raas status`: parseMetadata checks each file's schema (versions,
 * names, digests, the x-raas extension); this adds what only makes sense across fields — the
 * file is named after its repository, every tag and reference resolves inside the file, and
 * Crane's redirect lists agree with the raas records they are derived from.
 */
import { craneLists } from "../crane/publication.js";
import type { CraneMetadata, CraneV4 } from "../crane/types.js";
import { dashed, metadataFileName } from "../image/names.js";

/** Problems in one parsed metadata file (empty when it is clean). `file` is `data/<name>.json`. */
export function lintMetadata(meta: CraneMetadata, file: string, isv: string): string[] {
  const problems: string[] = [];
  const name = meta["repo-registry-id"];
  const base = file.slice(file.lastIndexOf("/") + 1);
  const expected = metadataFileName(isv, name);
  if (base !== expected) {
    problems.push(`${file} describes ${name}, so it should be named data/${expected}`);
  }
  if (meta.repository !== dashed(name)) {
    problems.push(
      `repository ${JSON.stringify(meta.repository)} differs from the storage prefix raas uses for ${name} (${dashed(name)})`,
    );
  }
  if (meta.version === 4 && meta["x-raas"] !== undefined) problems.push(...lintExtension(meta));
  return problems;
}

function lintExtension(meta: CraneV4): string[] {
  const ext = meta["x-raas"];
  if (ext === undefined) return [];
  const problems: string[] = [];
  for (const [digest, record] of Object.entries(ext.manifests)) {
    for (const ref of record.refs) {
      if (ext.manifests[ref] === undefined && ext.blobs[ref] === undefined) {
        problems.push(`manifest ${digest} references ${ref}, which is neither a listed manifest nor a blob`);
      }
    }
  }
  const lists = craneLists(ext);
  // Each list sorted once: O(n log n), not a sort per element (minutes for 20,000 tags).
  const same = (a: readonly string[], b: readonly string[]): boolean => {
    if (a.length !== b.length) return false;
    const left = [...a].sort();
    const right = [...b].sort();
    return left.every((v, i) => v === right[i]);
  };
  if (!same(meta.schema2_data, lists.schema2_data)) {
    problems.push("schema2_data does not match the manifests and tags in x-raas");
  }
  if (!same(meta.manifest_list_data, lists.manifest_list_data)) {
    problems.push("manifest_list_data does not match the manifest lists and tags in x-raas");
  }
  return problems;
}
