import { createHash } from "node:crypto";

/**
 * Name and tag grammar from the OCI distribution spec:
 *   name component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*   joined by "/"
 *   tag:            [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
 * Everything that becomes a storage key or URL passes through these first.
 */
const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
/** Components joined by "/", in one pass (no split: it runs on every registry request). */
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const COMPONENT_RE = new RegExp(`^${COMPONENT}$`);
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const ISV_RE = /^[a-z0-9]{1,16}$/;

export const MAX_NAME_LENGTH = 255;

export function isRepositoryName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return false;
  return NAME_RE.test(name);
}

export function isTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** ISV names as the original tool allowed them: alphanumeric, at most 16 characters, lower case. */
export function isIsvName(isv: string): boolean {
  return ISV_RE.test(isv);
}

/** `acme/bigdata-app` -> `acme-bigdata-app`: the storage prefix and the metadata file stem. */
export function dashed(name: string): string {
  return name.replaceAll("/", "-");
}

/**
 * The longest metadata file name raas writes: file systems allow 255 bytes (ext4, xfs, btrfs,
 * APFS), and atomic writes put a temporary name of up to ~30 more bytes beside the file.
 */
export const MAX_METADATA_FILE_NAME = 200;

/**
 * The Crane metadata file name for a repository: `<isv>-<app with / as ->.json`. A name near
 * the grammar's 255 characters would not fit a file name with the ISV and `.json` around it;
 * then the stem is cut and a hash of the whole name keeps it unique. Crane and the registry
 * read every `.json` in the data directory and key it by the `repo-registry-id` inside, so
 * the file name only has to be unique and stable.
 */
export function metadataFileName(isv: string, name: string): string {
  const plain = `${isv}-${dashed(name)}.json`;
  if (Buffer.byteLength(plain) <= MAX_METADATA_FILE_NAME) return plain;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 16);
  const room = MAX_METADATA_FILE_NAME - `${isv}--${hash}.json`.length;
  return `${isv}-${dashed(name).slice(0, room)}-${hash}.json`;
}

/** A character as a message shows it: quoted, with its code point (spaces and look-alikes are common). */
function shownChar(c: string): string {
  const code = (c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
  return `${JSON.stringify(c)} (U+${code})`;
}

/** Why `name` is not a repository name, in words; undefined when it is one. */
export function repositoryNameProblem(name: string): string | undefined {
  if (isRepositoryName(name)) return undefined;
  if (name.length === 0) return "the repository name is empty";
  if (name.length > MAX_NAME_LENGTH) {
    return `the repository name is ${name.length} characters long, more than ${MAX_NAME_LENGTH}`;
  }
  if (/[A-Z]/.test(name)) return "the repository name has upper-case letters; names are lower case";
  const bad = /[^a-z0-9._/-]/u.exec(name)?.[0];
  if (bad !== undefined) {
    return `the repository name has ${shownChar(bad)}; a name has only a-z, 0-9, . _ - and /`;
  }
  const component = name.split("/").find((c) => !COMPONENT_RE.test(c)) ?? "";
  return component === ""
    ? "the repository name has an empty component (a leading, trailing or doubled /)"
    : `the repository name component ${JSON.stringify(component)} starts or ends with . _ or -, or joins them in a way the grammar refuses`;
}

/** Why `tag` is not a tag, in words; undefined when it is one. */
export function tagProblem(tag: string): string | undefined {
  if (isTag(tag)) return undefined;
  if (tag.length === 0) return "the tag is empty";
  if (tag.length > 128) return `the tag is ${tag.length} characters long, more than 128`;
  const bad = /[^A-Za-z0-9._-]/u.exec(tag)?.[0];
  if (bad !== undefined) return `the tag has ${shownChar(bad)}; a tag has only letters, digits, _ . and -`;
  return `the tag starts with ${JSON.stringify(tag[0])}; a tag starts with a letter, digit or _`;
}

type Reference = { name: string; tag?: string; digest?: string };

/**
 * Normalise a reference found in an archive (`RepoTags`, `org.opencontainers.image.ref.name`,
 * `io.containerd.image.name`) into repository and tag. A leading registry host
 * (`docker.io`, `localhost`, anything with a dot or port) and `library/` on Docker Hub are dropped.
 * Returns undefined when the reference does not follow the grammar.
 */
export function parseReference(ref: string): Reference | undefined {
  const read = readReference(ref);
  return "problem" in read ? undefined : read;
}

/** parseReference, or why the reference does not follow the grammar. */
export function readReference(ref: string): Reference | { problem: string } {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const parts = rest.split("/");
  const first = parts[0] ?? "";
  let hostWasDockerHub = false;
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    hostWasDockerHub =
      first === "docker.io" || first === "index.docker.io" || first === "registry-1.docker.io";
    parts.shift();
  }
  if (hostWasDockerHub && parts.length > 1 && parts[0] === "library") parts.shift();
  const name = parts.join("/");
  const problem = repositoryNameProblem(name) ?? (tag === undefined ? undefined : tagProblem(tag));
  if (problem !== undefined) return { problem };
  const result: Reference = { name };
  if (tag !== undefined) result.tag = tag;
  if (digest !== undefined) result.digest = digest;
  return result;
}
