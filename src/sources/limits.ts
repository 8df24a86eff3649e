import { InputError } from "../errors.js";

/**
 * Counts a reader may meet in one input. Real images stay far below them (Docker refuses
 * more than 127 layers per image; a multi-platform index lists a handful of images); a
 * crafted file beyond them would only cost time and memory. docs/sources.md lists them.
 */
export const LIMITS = {
  /** Layers of one image, and images in one v1 parent chain (the same thing after conversion). */
  layersPerImage: 256,
  /** Child manifests of one index. */
  manifestsPerIndex: 1_000,
  /** Entries of a `manifest.json` or `index.json`. */
  entriesPerList: 1_000,
  /** Image directories of a v1 input (Pulp export, pre-1.10 docker save). */
  v1Images: 10_000,
  /** Names (RepoTags, tags) one input may give. */
  refs: 1_000,
  /** All JSON documents read from one input together, generated ancestry files included. */
  metadataBytes: 64 * 1024 * 1024,
} as const;

/** Throws a clear error when `count` passes `limit`. */
export function checkCount(path: string, what: string, count: number, limit: number): void {
  if (count > limit) {
    throw new InputError(path, `${what}: ${count}, more than the limit of ${limit}`, {
      hint: "Real images stay far below this limit (see Limits in docs/sources.md); the input looks crafted or broken.",
    });
  }
}

/**
 * The total bytes of metadata one input may make raas read or generate: each document has
 * its own size limit, and this bounds their sum, so no count of small documents adds up to
 * gigabytes.
 */
export class MetadataBudget {
  private used = 0;

  constructor(
    private readonly path: string,
    private readonly limit: number = LIMITS.metadataBytes,
  ) {}

  spend(bytes: number, what: string): void {
    this.used += bytes;
    if (this.used > this.limit) {
      throw new InputError(
        this.path,
        `reading ${what} passes the limit of ${this.limit} bytes of metadata for one input`,
        { hint: "See Limits in docs/sources.md; the input holds far more metadata than any real image." },
      );
    }
  }
}
