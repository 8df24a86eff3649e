import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { V2Repo } from "../crane/load.js";
import { amd64Child } from "../crane/publication.js";
import { blobKey, manifestKey as storageManifestKey } from "../crane/keys.js";
import type { BlobRecord, CraneV4, RaasExtension } from "../crane/types.js";
import { isDigest, sha256Digest, type Digest } from "../image/digest.js";
import { INDEX_TYPES } from "../image/media-types.js";
import type { RequestContext } from "./context.js";
import {
  API_VERSION_HEADER,
  acceptSet,
  isFile,
  prepareRedirect,
  redirect,
  responseBytes,
  send,
  sendFile,
  sendRedirect,
  type PreparedRedirect,
} from "./http.js";
import { RegistryError } from "./registry-error.js";
import { countsAsPull } from "./observe.js";
import { keepBlobRedirect, manifestKey } from "./snapshot.js";
import { stableStorageUrls } from "./storage-url.js";

/**
 * The digests the indexes of one repository's metadata refer to, built on the first pull by
 * digest and kept while the snapshot holds that metadata: a pull then costs one look-up, not a
 * walk over every manifest of the repository.
 */
const indexChildren = new WeakMap<RaasExtension, Set<string>>();

/** A digest that is a child of an index in this repository: fetched after its index, one pull. */
function isChildOf(ext: RaasExtension, reference: string): boolean {
  if (!isDigest(reference)) return false;
  let children = indexChildren.get(ext);
  if (children === undefined) {
    children = new Set();
    for (const m of Object.values(ext.manifests)) {
      if (INDEX_TYPES.has(m.mediaType)) for (const child of m.refs) children.add(child);
    }
    indexChildren.set(ext, children);
  }
  return children.has(reference);
}

export type RaasRepo = V2Repo & { meta: CraneV4 & { "x-raas": RaasExtension } };

export function isRaasRepo(repo: V2Repo): repo is RaasRepo {
  return repo.meta.version === 4 && repo.meta["x-raas"] !== undefined;
}

/** Manifests larger than this are not read into memory from serve_content files. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

function acceptsIndex(accept: Set<string>): boolean {
  return accept.has("*/*") || [...INDEX_TYPES].some((type) => accept.has(type));
}

/**
 * A manifest by tag or digest. A manifest the snapshot holds is answered before this returns
 * (the hot path: no promise, no wait); waiting for a pull event to be stored, or reading the
 * manifest from serve_content or storage, returns a promise.
 */
export function raasManifest(ctx: RequestContext, repo: RaasRepo, reference: string): Promise<void> | void {
  const { req } = ctx;
  const ext = repo.meta["x-raas"];
  let digest: Digest | undefined = isDigest(reference)
    ? ext.manifests[reference] === undefined
      ? undefined
      : reference
    : Object.hasOwn(ext.tags, reference)
      ? ext.tags[reference]
      : undefined;
  if (digest === undefined) {
    throw new RegistryError(404, "MANIFEST_UNKNOWN", "manifest unknown", {
      name: repo.meta["repo-registry-id"],
      reference,
    });
  }
  let record = ext.manifests[digest];
  if (record !== undefined && INDEX_TYPES.has(record.mediaType) && !acceptsIndex(acceptSet(req))) {
    // Crane's manifest_list_amd64_tags rule: an old client gets the linux/amd64 image instead.
    digest = amd64Child(ext, digest);
    record = digest === undefined ? undefined : ext.manifests[digest];
    if (digest === undefined || record === undefined) {
      throw new RegistryError(
        404,
        "MANIFEST_UNKNOWN",
        "the client does not accept manifest lists and there is no linux/amd64 image",
        {
          reference,
        },
      );
    }
  }
  if (record === undefined) {
    throw new RegistryError(404, "MANIFEST_UNKNOWN", "manifest unknown", { reference });
  }
  const { mediaType, size } = record;
  // Known repository and reference only, so the series set stays bounded by the metadata.
  if (req.method === "GET") ctx.metrics.pull(repo.meta["repo-registry-id"], reference);
  // Statistics and the pull event (observe.ts); the event is stored before the response is sent.
  if (
    req.method === "GET" &&
    ctx.pulled !== undefined &&
    countsAsPull(reference, isChildOf(ext, reference))
  ) {
    const stored = ctx.pulled({
      req,
      repository: repo.meta["repo-registry-id"],
      reference,
      digest,
      mediaType,
      size,
    });
    // Only an event is waited for; counting alone keeps the hot path free of waits.
    if (stored !== undefined) return stored.then(() => answerManifest(ctx, repo, digest, mediaType));
  }
  return answerManifest(ctx, repo, digest, mediaType);
}

/** Send a known manifest: prepared bytes from the snapshot, else from serve_content or storage. */
function answerManifest(
  ctx: RequestContext,
  repo: RaasRepo,
  digest: Digest,
  mediaType: string,
): Promise<void> | void {
  const { req, res } = ctx;
  const served = ctx.snap.manifests.get(manifestKey(repo.meta.repository, digest));
  if (served !== undefined) {
    // The hot path: headers and bytes were prepared when the snapshot was loaded.
    if (req.headers["if-none-match"] === served.etag) {
      res.writeHead(304, served.headers);
      res.end();
      return;
    }
    responseBytes.set(res, served.bytes.length);
    res.writeHead(200, served.headers);
    res.end(req.method === "HEAD" ? undefined : served.bytes);
    return;
  }
  return manifestFromContent(ctx, repo, digest, mediaType);
}

async function manifestFromContent(
  ctx: RequestContext,
  repo: RaasRepo,
  digest: Digest,
  mediaType: string,
): Promise<void> {
  const { req, res } = ctx;
  const headers = {
    ...API_VERSION_HEADER,
    "Content-Type": mediaType,
    "Docker-Content-Digest": digest,
    ETag: `"${digest}"`,
  };
  const key = storageManifestKey(repo.meta.repository, mediaType, digest);
  if (ctx.config.serveContent.enable) {
    const bytes = await readVerified(join(ctx.config.serveContent.contentDirV2, key), digest, ctx);
    if (bytes === undefined) {
      throw new RegistryError(404, "MANIFEST_UNKNOWN", "manifest content not found", { digest });
    }
    if (req.headers["if-none-match"] === headers.ETag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    return send(req, res, 200, bytes, headers);
  }
  const url = await ctx.storageUrl(key, isHeadMethod(ctx), repo.meta.url, privateTtl(ctx, repo));
  redirect(req, res, 307, url, { "Docker-Content-Digest": digest, ...API_VERSION_HEADER });
}

/** A repository not everyone may pull gets short-lived presigned redirects only (docs/auth.md). */
const privateTtl = (ctx: RequestContext, repo: RaasRepo): number | undefined =>
  ctx.access.isPublic(repo.meta["repo-registry-id"]) ? undefined : ctx.access.privateTtl;

const isHeadMethod = (ctx: RequestContext) => (ctx.req.method === "HEAD" ? "HEAD" : "GET");

async function readVerified(path: string, digest: Digest, ctx: RequestContext): Promise<Buffer | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    return undefined;
  }
  if (bytes.length > MAX_MANIFEST_BYTES || sha256Digest(bytes) !== digest) {
    ctx.log(`refusing ${path}: its content does not match ${digest}`);
    return undefined;
  }
  return bytes;
}

/**
 * A blob is served only for a repository whose metadata lists it: one bucket prefix per repo is
 * not enough on its own, because a shared CDN or a future shared prefix would otherwise let any
 * name read any blob (the zot GHSA-55r9 class).
 */
export function raasBlob(ctx: RequestContext, repo: RaasRepo, digest: Digest): Promise<void> | void {
  const { req, res, config } = ctx;
  const record = repo.meta["x-raas"].blobs[digest];
  if (record === undefined) {
    throw new RegistryError(404, "BLOB_UNKNOWN", "blob unknown to registry", { digest });
  }
  const ttl = privateTtl(ctx, repo);
  // The hot path: a public blob's redirect, made by an earlier request of this snapshot.
  const prepared = ttl === undefined ? ctx.snap.blobRedirects.get(record) : undefined;
  if (prepared !== undefined) return sendRedirect(req, res, prepared);
  const digestHeader = { ...API_VERSION_HEADER, "Docker-Content-Digest": digest };
  if (record.url !== undefined) {
    return sendRedirect(
      req,
      res,
      keepRedirect(ctx, ttl, record, prepareRedirect(307, record.url, digestHeader)),
    );
  }
  const key = blobKey(repo.meta.repository, digest);
  if (config.serveContent.enable) return blobFromContent(ctx, key, digest, digestHeader);
  // A public URL is known at once: the redirect is sent before this returns, as a manifest is.
  const url = ctx.storageUrl(key, isHeadMethod(ctx), repo.meta.url, ttl);
  if (typeof url === "string") {
    const made = prepareRedirect(307, url, digestHeader);
    return sendRedirect(req, res, stableStorageUrls(config) ? keepRedirect(ctx, ttl, record, made) : made);
  }
  return url.then((signed) => redirect(req, res, 307, signed, digestHeader));
}

/**
 * Keep a public blob's redirect for the rest of the snapshot's life (the metadata it comes from
 * and the configuration cannot change before the next snapshot). A private blob's is never kept:
 * whether a repository is public is decided again on every request.
 */
function keepRedirect(
  ctx: RequestContext,
  ttl: number | undefined,
  record: BlobRecord,
  prepared: PreparedRedirect,
): PreparedRedirect {
  return ttl === undefined ? keepBlobRedirect(ctx.snap, record, prepared) : prepared;
}

/** A blob from serve_content: a file sent (or named for X-Sendfile), else 404. */
async function blobFromContent(
  ctx: RequestContext,
  key: string,
  digest: Digest,
  digestHeader: Record<string, string>,
): Promise<void> {
  const { req, res, config } = ctx;
  const file = join(config.serveContent.contentDirV2, key);
  const headers = {
    ...digestHeader,
    "Content-Type": "application/octet-stream",
    ETag: `"${digest}"`,
    "Cache-Control": "max-age=31536000",
  };
  if (config.serveContent.useXSendfile) {
    if (await isFile(file)) return send(req, res, 200, "", { ...headers, "X-Sendfile": file });
  } else if (await sendFile(req, res, file, headers)) return;
  throw new RegistryError(404, "BLOB_UNKNOWN", "blob content not found", { digest });
}

const MAX_PAGE = 1000;

/** `n`/`last` pagination (distribution's shape), with `n` capped so a request cannot ask for everything. */
export function paginate(
  ctx: RequestContext,
  all: string[],
  path: string,
  render: (items: string[]) => unknown,
): void {
  const { req, res, query } = ctx;
  const nText = query.get("n");
  let n = MAX_PAGE;
  if (nText != null) {
    n = Number(nText);
    if (!/^\d+$/.test(nText) || !Number.isSafeInteger(n)) {
      throw new RegistryError(400, "PAGINATION_NUMBER_INVALID", "n must be a non-negative integer", {
        n: nText,
      });
    }
    n = Math.min(n, MAX_PAGE);
  }
  const last = query.get("last");
  const rest = last == null ? all : all.filter((item) => item > last);
  const page = rest.slice(0, n);
  const headers: Record<string, string> = { ...API_VERSION_HEADER };
  if (page.length > 0 && rest.length > page.length) {
    const next = new URLSearchParams({ n: String(n), last: page[page.length - 1] ?? "" });
    headers.Link = `<${path}?${next.toString()}>; rel="next"`;
  }
  send(req, res, 200, JSON.stringify(render(page)), { "Content-Type": "application/json", ...headers });
}

export function raasTagsList(ctx: RequestContext, repo: RaasRepo): void {
  const tags = Object.keys(repo.meta["x-raas"].tags).sort();
  const name = repo.meta["repo-registry-id"];
  paginate(ctx, tags, `/v2/${name}/tags/list`, (page) => ({ name, tags: page }));
}
