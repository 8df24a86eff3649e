/**
 * A compact digest of what a registry serves for one repository's tags: each tag, the manifest
 * digest it resolves to, and whether that manifest is ready to send. The registry computes it
 * over what it has loaded (`GET /raas/loaded`); `raas status` computes it over the metadata in
 * the app repository and HEADs only the repositories whose digests differ, plus a sample.
 */
import { createHash } from "node:crypto";

/** Hex characters kept of the SHA-256: 128 bits, enough to tell two tag lists apart. */
const DIGEST_HEX = 32;

/**
 * `ready(tag, digest)`: whether the registry can send that tag's manifest itself (the status
 * side, which expects every tag to be served, passes `() => true`).
 */
export function servedTagsDigest(
  tags: Readonly<Record<string, string>>,
  ready: (tag: string, digest: string) => boolean,
): string {
  const hash = createHash("sha256");
  // Sorted by code unit on both sides, so the order of the file does not matter.
  for (const tag of Object.keys(tags).sort()) {
    const digest = tags[tag] ?? "";
    hash.update(`${tag}\t${digest}${ready(tag, digest) ? "" : "\t-"}\n`);
  }
  return hash.digest("hex").slice(0, DIGEST_HEX);
}
