import type { Readable } from "node:stream";
import type { Blob } from "./model.js";

/**
 * The Docker registry v1 image model: an image is one layer plus its `json` (with `id` and
 * `parent`), and `ancestry` is the id chain from the image down to the base, child first.
 * Pulp exports and pre-1.10 `docker save` archives carry images in this form.
 */
export const V1_ID_RE = /^[a-f0-9]{64}$/;

declare const v1IdBrand: unique symbol;
/** A string checked by isV1Id (a string that fails the check is still a string, not `never`). */
export type V1Id = string & { readonly [v1IdBrand]: true };

export function isV1Id(value: unknown): value is V1Id {
  return typeof value === "string" && V1_ID_RE.test(value);
}

/** The bytes of one v1 layer file, read in place from the input. */
export interface V1LayerBytes {
  size: number;
  /** true for a Pulp `layer` (gzip), false for a `docker save` `layer.tar` (published gzipped). */
  gzipped: boolean;
  open(): Readable;
  /** Where the bytes live, for messages. */
  origin: string;
}

/** One v1 image present in the input. */
export interface V1Image {
  id: string;
  /** Parent id from `json`, undefined for a base image. */
  parent: string | undefined;
  /** The image's `json`, exactly as the input holds it. */
  json: Buffer;
  /** The parsed `json`, for the v2 conversion. */
  config: Record<string, unknown>;
  /** The exact `ancestry` bytes to publish (generated for `docker save` inputs). */
  ancestryBytes: Buffer;
  /** self, parent, ..., base. */
  ancestry: string[];
  layer: V1LayerBytes;
}

/** A v1 repository as an input describes it: its images and tags. */
export interface V1Repository {
  /** `repo-registry-id` (Pulp export) or the `repositories` key (docker save). */
  name: string | undefined;
  /** Images present in the input, by id. */
  images: Map<string, V1Image>;
  /** Ids an ancestry names that the input does not hold (vendor layers, masked). */
  external: Set<string>;
  /** tag -> image id. */
  tags: Record<string, string>;
}

/** The v1 view of one image of an input: its repository and its top image id. */
export interface V1Source {
  repository: V1Repository;
  top: string;
  /** The v2 gzip blob of an image's layer (the v1 `layer` file has the same bytes). */
  layerBlob(id: string): Promise<Blob>;
}

/** `json.dumps(list)` as Python 2 wrote ancestry files: `["a", "b"]`. */
export function ancestryFileBytes(ancestry: readonly string[]): Buffer {
  return Buffer.from(`[${ancestry.map((id) => JSON.stringify(id)).join(", ")}]`);
}
