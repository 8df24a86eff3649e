import * as v from "valibot";
import { InputError } from "../errors.js";
import { isDigest, type Digest } from "../image/digest.js";
import { MediaType } from "../image/media-types.js";
import { tooDeep } from "../image/json-depth.js";
import { emptyRecord } from "../image/records.js";

const KNOWN_MEDIA_TYPES: ReadonlySet<string> = new Set(Object.values(MediaType));

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value != null && !Array.isArray(value);
}

/** Parses a JSON document named `what` inside input `path`; bad JSON is an InputError naming both. */
export function parseJson(bytes: Buffer, path: string, what: string): unknown {
  const deep = tooDeep(bytes);
  if (deep !== undefined) throw new InputError(path, `${what} ${deep}`);
  try {
    return JSON.parse(bytes.toString("utf8")) as unknown;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new InputError(path, `${what} is not valid JSON (${reason})`);
  }
}

export function parseJsonObject(bytes: Buffer, path: string, what: string): JsonObject {
  const value = parseJson(bytes, path, what);
  if (!isObject(value)) throw new InputError(path, `${what} is not a JSON object`);
  return value;
}

/** Validates a digest before it is used to build any path; the message says what is wrong with it. */
export function checkDigest(value: unknown, path: string, where: string): Digest {
  if (isDigest(value)) return value;
  if (typeof value !== "string") throw new InputError(path, `${where} has no digest`);
  const shown = JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
  const colon = value.indexOf(":");
  const algorithm = colon > 0 ? value.slice(0, colon) : "";
  if (algorithm !== "" && algorithm !== "sha256") {
    throw new InputError(
      path,
      `${where} has digest ${shown}: unsupported algorithm "${algorithm}" (only sha256)`,
    );
  }
  throw new InputError(
    path,
    `${where} has malformed digest ${shown} (expected sha256: and 64 lower-case hex digits)`,
  );
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations: Record<string, string>;
  platform?: unknown;
}

export function checkSize(value: unknown, path: string, where: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new InputError(path, `${where} has an invalid size ${JSON.stringify(value)}`);
  }
  return value;
}

export function checkMediaType(value: unknown, path: string, where: string): string {
  if (typeof value !== "string") throw new InputError(path, `${where} has no mediaType`);
  if (!KNOWN_MEDIA_TYPES.has(value)) {
    throw new InputError(path, `${where} has unknown media type ${JSON.stringify(value.slice(0, 200))}`);
  }
  return value;
}

export function checkDescriptor(value: unknown, path: string, where: string): Descriptor {
  if (!isObject(value)) throw new InputError(path, `${where} is not a descriptor object`);
  const descriptor: Descriptor = {
    mediaType: checkMediaType(value.mediaType, path, where),
    digest: checkDigest(value.digest, path, where),
    size: checkSize(value.size, path, where),
    annotations: emptyRecord<string>(),
  };
  if (isObject(value.annotations)) {
    for (const [key, v] of Object.entries(value.annotations)) {
      if (typeof v === "string") descriptor.annotations[key] = v;
    }
  }
  if (value.platform !== undefined) descriptor.platform = value.platform;
  return descriptor;
}

/** `: [0].Layers`-style location of a schema issue, for messages; empty at the top. */
function issuePath(issue: v.BaseIssue<unknown>): string {
  let out = "";
  for (const item of issue.path ?? []) {
    const key = item.key;
    out += typeof key === "number" ? `[${key}]` : `${out === "" ? "" : "."}${String(key)}`;
  }
  return out === "" ? "" : `: ${out}`;
}

/**
 * Parses untrusted JSON named `what` inside input `path` and validates it against `schema`,
 * once, at the edge: callers get the schema's type, no casts. The document itself is
 * returned, not valibot's copy: the copy leaves out keys such as `__proto__` and
 * `constructor`, which are ordinary tags and config keys to raas. The first problem becomes
 * an InputError naming the file, the place in the document, and the schema's message.
 */
export function parseDocument<const S extends v.GenericSchema>(
  schema: S,
  bytes: Buffer,
  path: string,
  what: string,
): v.InferInput<S> {
  return checkDocument(schema, parseJson(bytes, path, what), path, what);
}

/** checkDocument without the parsing: for a value already parsed (and checked in part). */
export function checkDocument<const S extends v.GenericSchema>(
  schema: S,
  value: unknown,
  path: string,
  what: string,
): v.InferInput<S> {
  if (v.is(schema, value)) return value;
  const result = v.safeParse(schema, value);
  const issue = result.issues?.[0];
  throw new InputError(
    path,
    `${what}${issue === undefined ? "" : issuePath(issue)} ${issue?.message ?? "is invalid"}`,
  );
}
