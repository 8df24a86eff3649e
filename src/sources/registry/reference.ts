import { UsageError } from "../../errors.js";
import { isDigest, type Digest } from "../../image/digest.js";
import { isRepositoryName, isTag } from "../../image/names.js";

/** `docker://host[:port]/name[:tag|@sha256:…]`, validated before any URL is built from it. */
export interface RegistryReference {
  /** `host` or `host:port`, as written (lower case). */
  host: string;
  name: string;
  tag?: string;
  digest?: Digest;
}

export const REGISTRY_PREFIX = "docker://";

const HOST_RE =
  /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::[0-9]{1,5})?$/;
const IPV6_RE = /^\[[0-9a-f:.]+\](?::[0-9]{1,5})?$/;

export function isRegistryReference(value: string): boolean {
  return value.startsWith(REGISTRY_PREFIX);
}

export function isRegistryHost(host: string): boolean {
  if (host.length > 255) return false;
  if (!HOST_RE.test(host) && !IPV6_RE.test(host)) return false;
  const port = /:([0-9]+)$/.exec(host)?.[1];
  return port === undefined || (Number(port) > 0 && Number(port) <= 65535);
}

function bad(value: string, problem: string): never {
  throw new UsageError(
    `${JSON.stringify(value.slice(0, 300))} is not a usable registry reference: ${problem}`,
    {
      hint: "Write docker://host[:port]/name:tag or docker://host[:port]/name@sha256:<64 hex>, e.g. docker://registry.example.com/acme/app:1.0.",
    },
  );
}

/** Parses a `docker://` reference; the host part is required (no implicit Docker Hub). */
export function parseRegistryReference(value: string): RegistryReference {
  if (!isRegistryReference(value)) bad(value, `it does not start with ${REGISTRY_PREFIX}`);
  if (value.length > 600) bad(value, "it is too long");
  let rest = value.slice(REGISTRY_PREFIX.length);
  const slash = rest.indexOf("/");
  if (slash <= 0) bad(value, "it needs a registry host and a repository name");
  const host = rest.slice(0, slash).toLowerCase();
  if (!isRegistryHost(host)) bad(value, `${JSON.stringify(host)} is not a host name with an optional port`);
  rest = rest.slice(slash + 1);
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) bad(value, "the digest must be sha256: followed by 64 lower-case hex digits");
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) bad(value, `${JSON.stringify(tag)} is not a valid tag`);
  }
  if (!isRepositoryName(rest)) bad(value, `${JSON.stringify(rest)} is not a valid repository name`);
  const ref: RegistryReference = { host, name: rest };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = "latest";
  return ref;
}

export function formatReference(ref: RegistryReference): string {
  return `${REGISTRY_PREFIX}${ref.host}/${ref.name}${ref.tag === undefined ? "" : `:${ref.tag}`}${
    ref.digest === undefined ? "" : `@${ref.digest}`
  }`;
}
