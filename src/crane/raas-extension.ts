import { InputError } from "../errors.js";
import { isDigest, type Digest } from "../image/digest.js";
import { IMAGE_MANIFEST_TYPES, INDEX_TYPES } from "../image/media-types.js";
import { isTag } from "../image/names.js";
import { emptyRecord } from "../image/records.js";
import type { BlobRecord, ManifestRecord, RaasExtension } from "./types.js";

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value != null && !Array.isArray(value);
}

/** `sha256:` and 64 characters: what a ref must look like before it is looked up among the keys. */
const isDigestShaped = (value: unknown): value is string =>
  typeof value === "string" && value.length === 71 && value.startsWith("sha256:");

function isSize(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Only absolute http(s) URLs may be handed to clients as redirect targets. */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && !/[\s\r\n]/.test(value);
  } catch {
    return false;
  }
}

function parsePlatform(value: unknown, where: string, file: string): ManifestRecord["platform"] {
  if (
    !isObject(value) ||
    typeof value.architecture !== "string" ||
    typeof value.os !== "string" ||
    (value.variant !== undefined && typeof value.variant !== "string")
  ) {
    throw new InputError(file, `${where}.platform needs string "architecture" and "os"`);
  }
  const platform: NonNullable<ManifestRecord["platform"]> = {
    architecture: value.architecture,
    os: value.os,
  };
  if (typeof value.variant === "string") platform.variant = value.variant;
  return platform;
}

function parseManifest(digest: string, value: unknown, file: string): ManifestRecord {
  const where = `x-raas.manifests[${digest}]`;
  if (!isObject(value)) throw new InputError(file, `${where} must be an object`);
  if (
    typeof value.mediaType !== "string" ||
    !(IMAGE_MANIFEST_TYPES.has(value.mediaType) || INDEX_TYPES.has(value.mediaType))
  ) {
    throw new InputError(
      file,
      `${where}.mediaType ${JSON.stringify(value.mediaType)} is not a manifest type`,
    );
  }
  if (!isSize(value.size)) throw new InputError(file, `${where}.size must be a non-negative integer`);
  // Each ref must be a listed key (checked once every record is read), and keys are checked
  // digests: a string of a digest's length here, so a ref costs no pattern test of its own.
  if (!Array.isArray(value.refs) || !value.refs.every(isDigestShaped)) {
    throw new InputError(file, `${where}.refs must be an array of sha256 digests`);
  }
  // Not yet known to be digests: parseRaasExtension refuses any ref that is not a listed key.
  const refs = [...value.refs] as Digest[];
  const record: ManifestRecord = { mediaType: value.mediaType, size: value.size, refs };
  if (value.platform !== undefined) record.platform = parsePlatform(value.platform, where, file);
  return record;
}

function parseBlob(digest: string, value: unknown, file: string): BlobRecord {
  const where = `x-raas.blobs[${digest}]`;
  if (!isObject(value)) throw new InputError(file, `${where} must be an object`);
  if (!isSize(value.size)) throw new InputError(file, `${where}.size must be a non-negative integer`);
  const record: BlobRecord = { size: value.size };
  if (value.mediaType !== undefined) {
    if (typeof value.mediaType !== "string") {
      throw new InputError(file, `${where}.mediaType must be a string`);
    }
    record.mediaType = value.mediaType;
  }
  if (value.url !== undefined) {
    if (typeof value.url !== "string" || !isHttpUrl(value.url)) {
      throw new InputError(file, `${where}.url must be an absolute http(s) URL`);
    }
    record.url = value.url;
  }
  return record;
}

function digestKeyed<T>(value: unknown, key: string, file: string, parse: (d: string, v: unknown) => T) {
  if (!isObject(value)) throw new InputError(file, `x-raas.${key} must be an object`);
  const out = emptyRecord<T>();
  for (const [digest, entry] of Object.entries(value)) {
    if (!isDigest(digest)) {
      throw new InputError(file, `x-raas.${key}: ${JSON.stringify(digest)} is not a sha256 digest`);
    }
    out[digest] = parse(digest, entry);
  }
  return out;
}

/**
 * Validate the raas extension: grammar of every tag and digest, and referential integrity
 * (tags point at listed manifests, an index's refs are listed manifests, an image's refs are
 * listed blobs), so the server never has to handle a dangling reference.
 */
export function parseRaasExtension(value: unknown, file: string): RaasExtension {
  if (!isObject(value)) throw new InputError(file, '"x-raas" must be an object');
  if (value.version !== 1) {
    throw new InputError(file, `x-raas.version ${JSON.stringify(value.version)} not supported`);
  }
  const manifests = digestKeyed(value.manifests, "manifests", file, (d, v) => parseManifest(d, v, file));
  const blobs = digestKeyed(value.blobs, "blobs", file, (d, v) => parseBlob(d, v, file));
  if (!isObject(value.tags)) throw new InputError(file, "x-raas.tags must be an object");
  // A digest is written many times in a file (a key, each ref, each tag): every occurrence is
  // replaced by the one string of its key, so a loaded index holds each digest once per file.
  const keys = new Map<string, Digest>();
  for (const digest of Object.keys(manifests)) keys.set(digest, digest as Digest);
  for (const digest of Object.keys(blobs)) keys.set(digest, digest as Digest);
  const tags = emptyRecord<Digest>();
  for (const [tag, digest] of Object.entries(value.tags)) {
    if (!isTag(tag)) throw new InputError(file, `x-raas.tags: ${JSON.stringify(tag)} is not a valid tag`);
    // The keys of `manifests` are checked digests (and it has no prototype): being one is enough.
    if (typeof digest !== "string" || manifests[digest] === undefined) {
      throw new InputError(
        file,
        `x-raas.tags[${tag}] must be the digest of a manifest listed in x-raas.manifests`,
      );
    }
    tags[tag] = keys.get(digest) ?? (digest as Digest);
  }
  for (const [digest, record] of Object.entries(manifests)) {
    const isIndex = INDEX_TYPES.has(record.mediaType);
    const { refs } = record;
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i] as Digest;
      const known = isIndex ? manifests[ref] !== undefined : blobs[ref] !== undefined;
      if (!known) {
        throw new InputError(
          file,
          `x-raas.manifests[${digest}] refers to ${ref}, which is not listed in x-raas.${isIndex ? "manifests" : "blobs"}`,
        );
      }
      refs[i] = keys.get(ref) ?? ref;
    }
  }
  const ext: RaasExtension = { version: 1, tags, manifests, blobs };
  if (value.updated !== undefined) {
    if (typeof value.updated !== "string") throw new InputError(file, "x-raas.updated must be a string");
    ext.updated = value.updated;
  }
  return ext;
}
