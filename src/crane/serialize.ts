import { emptyRecord } from "../image/records.js";
import type { CraneMetadata } from "./types.js";

/** Crane's fields first, in the order Pulp documents them; anything else after, sorted. */
const TOP_LEVEL_ORDER = [
  "type",
  "version",
  "repository",
  "repo-registry-id",
  "url",
  "protected",
  "images",
  "tags",
  "schema2_data",
  "manifest_list_data",
  "manifest_list_amd64_tags",
];

function sortDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortDeep);
  if (typeof value === "object" && value != null) {
    const out = emptyRecord<unknown>();
    for (const key of Object.keys(value).sort()) out[key] = sortDeep((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/**
 * Deterministic text for a metadata file, so a publish shows up in git as a readable diff:
 * fixed top-level order, every nested object's keys sorted, arrays kept in order, 2-space
 * indent and a trailing newline.
 */
export function serializeMetadata(meta: CraneMetadata): string {
  const source = meta as unknown as Record<string, unknown>;
  const rank = (key: string) => {
    const i = TOP_LEVEL_ORDER.indexOf(key);
    return i < 0 ? TOP_LEVEL_ORDER.length : i;
  };
  const keys = Object.keys(source)
    .filter((k) => source[k] !== undefined)
    .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const out = emptyRecord<unknown>();
  for (const key of keys) out[key] = sortDeep(source[key]);
  return `${JSON.stringify(out, null, 2)}\n`;
}
