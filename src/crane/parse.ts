import { InputError } from "../errors.js";
import { tooDeep } from "../image/json-depth.js";
import { isRepositoryName } from "../image/names.js";
import { emptyRecord } from "../image/records.js";
import { parseRaasExtension } from "./raas-extension.js";
import type { CraneCommon, CraneMetadata } from "./types.js";

/**
 * A Pulp repository id (the `repository` field) becomes a directory name in serve_content mode
 * and a storage prefix for raas, so it must be one safe path segment.
 */
const REPOSITORY_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** v1 image ids become path segments (`<repository>/<id>/layer`): same rule. */
const IMAGE_ID_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export function isSafeSegment(value: string): boolean {
  return value.length <= 255 && REPOSITORY_RE.test(value);
}

export function isImageId(value: string): boolean {
  return value.length <= 255 && IMAGE_ID_RE.test(value);
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value != null && !Array.isArray(value);
}

/**
 * Crane checks `version in (1, 2, 3, 4)` in Python, where `True == 1` and `1.0 == 1`; JSON.parse
 * already turns `1.0` into 1, so only `true` needs mapping. Strings such as "1" stay invalid.
 */
function parseVersion(value: unknown, file: string): 1 | 2 | 3 | 4 {
  const v = value === true ? 1 : value;
  if (v === 1 || v === 2 || v === 3 || v === 4) return v;
  if (value === undefined) throw new InputError(file, 'missing key "version"');
  throw new InputError(file, `metadata version ${JSON.stringify(value)} not supported`);
}

function requireString(meta: Json, key: string, file: string): string {
  const value = meta[key];
  if (value === undefined) throw new InputError(file, `missing key "${key}"`);
  if (typeof value !== "string") throw new InputError(file, `"${key}" must be a string`);
  return value;
}

function requireStringArray(meta: Json, key: string, file: string): string[] {
  const value = meta[key];
  if (value === undefined) throw new InputError(file, `missing key "${key}"`);
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new InputError(file, `"${key}" must be an array of strings`);
  }
  return value;
}

function parseCommon(meta: Json, version: 1 | 2 | 3 | 4, file: string): CraneCommon {
  const name = requireString(meta, "repo-registry-id", file);
  if (!isRepositoryName(name)) {
    throw new InputError(file, `"repo-registry-id" ${JSON.stringify(name)} is not a valid repository name`);
  }
  const repository = requireString(meta, "repository", file);
  if (!isSafeSegment(repository)) {
    throw new InputError(file, `"repository" ${JSON.stringify(repository)} must be a single path segment`);
  }
  const url = requireString(meta, "url", file);
  const common: CraneCommon = { version, repository, "repo-registry-id": name, url };
  if (typeof meta.type === "string") common.type = meta.type;
  if (meta.protected !== undefined) {
    if (typeof meta.protected !== "boolean") throw new InputError(file, '"protected" must be true or false');
    common.protected = meta.protected;
  }
  return common;
}

function parseV1Images(meta: Json, file: string): { id: string }[] {
  const images = meta.images;
  if (images === undefined) throw new InputError(file, 'missing key "images"');
  if (!Array.isArray(images)) throw new InputError(file, '"images" must be an array');
  return images.map((image: unknown, i) => {
    if (!isObject(image) || typeof image.id !== "string" || !isImageId(image.id)) {
      throw new InputError(file, `images[${i}] needs an "id" that is a safe image id`);
    }
    return { ...image, id: image.id };
  });
}

function parseV1Tags(meta: Json, file: string): Record<string, string> {
  const tags = meta.tags;
  if (tags === undefined) throw new InputError(file, 'missing key "tags"');
  if (!isObject(tags) || !Object.values(tags).every((v) => typeof v === "string")) {
    throw new InputError(file, '"tags" must map tag names to image ids');
  }
  return Object.assign(emptyRecord<string>(), tags as Record<string, string>);
}

function parseAmd64Tags(meta: Json, file: string): Record<string, [string, 1 | 2]> {
  const value = meta.manifest_list_amd64_tags;
  if (value === undefined) throw new InputError(file, 'missing key "manifest_list_amd64_tags"');
  if (!isObject(value)) throw new InputError(file, '"manifest_list_amd64_tags" must be an object');
  const out = emptyRecord<[string, 1 | 2]>();
  for (const [tag, entry] of Object.entries(value)) {
    const pair: unknown = entry;
    const digest: unknown = Array.isArray(pair) && pair.length === 2 ? pair[0] : undefined;
    const version: unknown = Array.isArray(pair) ? pair[1] : undefined;
    if (typeof digest !== "string" || (version !== 1 && version !== 2)) {
      throw new InputError(file, `manifest_list_amd64_tags[${JSON.stringify(tag)}] must be [digest, 1|2]`);
    }
    out[tag] = [digest, version];
  }
  return out;
}

/**
 * Parse and validate one metadata file the way Crane's `load_from_file` does (required keys per
 * version), plus what Crane never checked but a server building paths and URLs must: the name
 * grammar, a safe `repository` segment, safe v1 image ids, and the whole `x-raas` extension.
 * Throws InputError naming the file and the problem.
 */
export function parseMetadata(text: string, file: string): CraneMetadata {
  const deep = tooDeep(text);
  if (deep !== undefined) throw new InputError(file, deep);
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch (err) {
    throw new InputError(file, `not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(meta)) throw new InputError(file, "not a JSON object");
  const version = parseVersion(meta.version, file);
  const common = parseCommon(meta, version, file);
  switch (version) {
    case 1:
      return { ...common, version, images: parseV1Images(meta, file), tags: parseV1Tags(meta, file) };
    case 2:
      return { ...common, version };
    case 3:
      return { ...common, version, schema2_data: requireStringArray(meta, "schema2_data", file) };
    case 4: {
      const v4 = {
        ...common,
        version,
        schema2_data: requireStringArray(meta, "schema2_data", file),
        manifest_list_data: requireStringArray(meta, "manifest_list_data", file),
        manifest_list_amd64_tags: parseAmd64Tags(meta, file),
      };
      const ext = meta["x-raas"];
      if (ext === undefined) return v4;
      const raas = parseRaasExtension(ext, file);
      // schema2_data repeats every manifest digest and tag: share those strings with x-raas.
      const shared = new Map<string, string>();
      for (const key of Object.keys(raas.manifests)) shared.set(key, key);
      for (const key of Object.keys(raas.tags)) shared.set(key, key);
      const data = v4.schema2_data;
      for (let i = 0; i < data.length; i++) data[i] = shared.get(data[i] as string) ?? (data[i] as string);
      return { ...v4, "x-raas": raas };
    }
  }
}
