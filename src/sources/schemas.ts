import * as v from "valibot";
import { MediaType } from "../image/media-types.js";
import { isV1Id } from "../image/v1.js";

/**
 * The JSON documents readers take from archives, as schemas: each is validated once where it
 * is parsed (parseDocument), and the types below flow from here. Only the fields raas reads
 * are described; other keys pass untouched (loose objects). Messages complete a sentence
 * that starts with the document's name and the place in it.
 */

const v1Id = v.custom<string>(isV1Id, "is not an image id (64 lower-case hex digits)");

/** A JSON object whose keys come from the input (valibot's record would drop `__proto__`). */
const jsonObject = (message: string) =>
  v.custom<Record<string, unknown>>(
    (value) => typeof value === "object" && value !== null && !Array.isArray(value),
    message,
  );

/** `docker save` manifest.json: one entry per image. */
export const DockerManifestJson = v.pipe(
  v.array(
    v.looseObject(
      {
        Config: v.pipe(v.string("is not a path"), v.minLength(1, "is not a path")),
        Layers: v.array(v.pipe(v.string("is not a path"), v.minLength(1, "is not a path")), "is not a list"),
        RepoTags: v.nullish(v.array(v.string("holds a non-string"), "is not a list")),
      },
      "is not an object",
    ),
    "is not a list of images",
  ),
  v.minLength(1, "lists no images"),
);
export type DockerManifestEntry = v.InferOutput<typeof DockerManifestJson>[number];

/** The part of an image config a `docker save` reader needs: the diff_ids of its layers. */
export const DockerImageConfig = v.looseObject(
  {
    rootfs: v.looseObject(
      { diff_ids: v.array(v.unknown(), "is not a list") },
      "is not an object with a diff_ids list",
    ),
  },
  "is not a JSON object",
);

/** `oci-layout`. */
export const OciLayoutFile = v.looseObject(
  {
    imageLayoutVersion: v.literal("1.0.0", (issue) => `is ${issue.received}, expected "1.0.0"`),
  },
  "is not a JSON object",
);

/** `index.json` of an OCI layout: entries are checked one by one as descriptors. */
export const OciIndexFile = v.pipe(
  v.looseObject(
    {
      schemaVersion: v.literal(2, "is not 2"),
      mediaType: v.optional(
        v.literal(MediaType.ociIndex, (issue) => `is ${issue.received}, expected an OCI index`),
      ),
      manifests: v.pipe(
        v.array(v.unknown(), "is not a list (an image index needs manifests, no config or layers)"),
        v.minLength(1, "lists no images"),
      ),
    },
    "is not a JSON object",
  ),
  v.check(
    (doc) => !("config" in doc) && !("layers" in doc),
    "is not an image index (it needs manifests, no config or layers)",
  ),
);

/** Pulp's `<repo_id>.json` (Crane version 1 metadata), as far as an export is read. */
export const PulpRepoFile = v.looseObject(
  {
    version: v.literal(1, "is not 1: not Crane version 1 metadata"),
    images: v.array(v.looseObject({ id: v1Id }, "is not an object"), 'has no "images" list'),
    // Tags are input keys: checked one by one by the reader into a null-prototype record.
    tags: jsonObject('has no "tags" object'),
    "repo-registry-id": v.optional(v.string("is not a string")),
  },
  "is not a JSON object",
);

export type PulpRepo = v.InferInput<typeof PulpRepoFile>;

/** Pre-1.10 `docker save` `repositories`: name -> tag -> image id, checked key by key by the reader. */
export const LegacyRepositories = jsonObject("is not a JSON object");

/** A v1 image `json`, as far as identity goes (Docker also wrote `Id`/`Parent`). */
export const V1ImageJson = v.looseObject(
  {
    id: v.optional(v.unknown()),
    Id: v.optional(v.unknown()),
    parent: v.optional(v.unknown()),
    Parent: v.optional(v.unknown()),
  },
  "is not a JSON object",
);

const NOT_IMAGE = "is not an image manifest (it needs config and layers, no manifests)";
const NOT_INDEX = "is not an index (it needs manifests, no config or layers)";

/** Header fields every manifest and index shares; checked first, for the clearest message. */
export const ManifestHeader = v.looseObject(
  {
    mediaType: v.optional(v.unknown()),
    schemaVersion: v.literal(2, "is not 2"),
  },
  "is not a JSON object",
);

/** An image manifest blob (OCI or Docker schema 2); descriptors inside are checked one by one. */
export const ImageManifestDoc = v.pipe(
  v.looseObject({ config: v.looseObject({}, NOT_IMAGE), layers: v.array(v.unknown(), NOT_IMAGE) }, NOT_IMAGE),
  v.check((doc) => !("manifests" in doc), NOT_IMAGE),
);

/** An index blob (OCI index or Docker manifest list). */
export const IndexDoc = v.pipe(
  v.looseObject({ manifests: v.array(v.unknown(), NOT_INDEX) }, NOT_INDEX),
  v.check((doc) => !("config" in doc) && !("layers" in doc), NOT_INDEX),
);
