import type { Digest } from "../image/digest.js";

/**
 * Crane metadata files ("app" / "redirect" files), versions 1 to 4, as Pulp wrote them and
 * Crane reads them (docs: FORMATS.md §1). Unknown keys are ignored by Crane, which lets raas
 * add the `x-raas` extension below without breaking Crane compatibility.
 */
export interface CraneCommon {
  type?: string;
  version: 1 | 2 | 3 | 4;
  repository: string;
  "repo-registry-id": string;
  url: string;
  protected?: boolean;
}

export interface CraneV1 extends CraneCommon {
  version: 1;
  images: { id: string }[];
  tags: Record<string, string>;
}

export interface CraneV2 extends CraneCommon {
  version: 2;
}

export interface CraneV3 extends CraneCommon {
  version: 3;
  schema2_data: string[];
}

export interface CraneV4 extends CraneCommon {
  version: 4;
  schema2_data: string[];
  manifest_list_data: string[];
  manifest_list_amd64_tags: Record<string, [string, 1 | 2]>;
  /** raas extension; Crane ignores it. */
  "x-raas"?: RaasExtension;
}

export type CraneMetadata = CraneV1 | CraneV2 | CraneV3 | CraneV4;

/**
 * What raas records beside the Crane fields so its server can answer like a modern registry:
 * tag -> digest resolution, media types and sizes (for Content-Type, Docker-Content-Digest and
 * HEAD without touching storage), and which blobs each repository references (a blob is only
 * served for a repository that references it).
 */
export interface RaasExtension {
  /** Extension format version. */
  version: 1;
  /** tag -> manifest digest. */
  tags: Record<string, Digest>;
  /** Every manifest in the repository (images, indexes and their children). */
  manifests: Record<Digest, ManifestRecord>;
  /**
   * Blobs referenced by the repository's manifests: digest -> size, and where the blob is
   * hosted when it is not in this repository's storage (masked vendor layers).
   */
  blobs: Record<Digest, BlobRecord>;
  /** When the file was last written by raas (ISO 8601). */
  updated?: string;
}

export interface ManifestRecord {
  mediaType: string;
  size: number;
  /** Config and layer digests (image) or child manifest digests (index). */
  refs: Digest[];
  /** For children of an index. */
  platform?: { architecture: string; os: string; variant?: string };
}

export interface BlobRecord {
  size: number;
  mediaType?: string;
  /** Absolute URL of a blob hosted elsewhere (a masked vendor layer). */
  url?: string;
}
