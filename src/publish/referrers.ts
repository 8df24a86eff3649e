/**
 * The OCI referrers API (distribution spec 1.1, "Listing Referrers"): the manifests whose
 * `subject` names a digest. A manifest PUT with a subject records the referrer's descriptor at
 * `.raas/referrers/<repository>/<subject>/<referrer>`, so a listing reads one storage prefix,
 * never every manifest. The descriptor is what the listing returns: the referrer's media type,
 * digest and size, its artifactType (the manifest's own, else its config's media type) and its
 * annotations.
 *
 * The spec's tag-schema fallback (a `<alg>-<hex>` tag holding an index of referrers) is for
 * registries without this API; raas answers the API, so clients never fall back, and raas does
 * not maintain those tags.
 */
import type { Digest } from "../image/digest.js";
import { ObjectNotFoundError, type BlobStore } from "../storage/types.js";

export const REFERRERS_PREFIX = ".raas/referrers/";
/** A listing reads one object per referrer: past this many, the oldest are left out. */
export const MAX_REFERRERS = 1000;

export interface ReferrerDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const prefixOf = (repository: string, subject: Digest) => `${REFERRERS_PREFIX}${repository}/${subject}/`;

/** The descriptor a referrer manifest is listed with (`json` is the parsed, checked manifest). */
export function referrerDescriptor(
  json: Record<string, unknown>,
  mediaType: string,
  digest: Digest,
  size: number,
): ReferrerDescriptor {
  const out: ReferrerDescriptor = { mediaType, digest, size };
  const config = json.config as { mediaType?: unknown } | undefined;
  const artifactType =
    typeof json.artifactType === "string"
      ? json.artifactType
      : typeof config?.mediaType === "string"
        ? config.mediaType
        : undefined;
  if (artifactType !== undefined) out.artifactType = artifactType;
  const annotations = json.annotations;
  if (typeof annotations === "object" && annotations !== null && !Array.isArray(annotations)) {
    const kept: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [k, v] of Object.entries(annotations)) if (typeof v === "string") kept[k] = v;
    out.annotations = { ...kept };
  }
  return out;
}

export async function recordReferrer(
  store: BlobStore,
  repository: string,
  subject: Digest,
  descriptor: ReferrerDescriptor,
): Promise<void> {
  await store.put(
    prefixOf(repository, subject) + descriptor.digest,
    Buffer.from(JSON.stringify(descriptor)),
    {
      contentType: "application/json",
    },
  );
}

/** Remove `referrer` from the listing of `subject` (its manifest was deleted); missing is fine. */
export async function forgetReferrer(
  store: BlobStore,
  repository: string,
  subject: Digest,
  referrer: Digest,
): Promise<void> {
  await store.delete(prefixOf(repository, subject) + referrer);
}

export async function listReferrers(
  store: BlobStore,
  repository: string,
  subject: Digest,
): Promise<ReferrerDescriptor[]> {
  const found: { key: string; at: number }[] = [];
  for await (const object of store.list(prefixOf(repository, subject))) {
    found.push({ key: object.key, at: object.lastModified.getTime() });
  }
  found.sort((a, b) => b.at - a.at || a.key.localeCompare(b.key));
  const out: ReferrerDescriptor[] = [];
  for (const { key } of found.slice(0, MAX_REFERRERS)) {
    try {
      out.push(JSON.parse((await store.getBuffer(key)).toString("utf8")) as ReferrerDescriptor);
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError)) throw err;
    }
  }
  return out;
}
