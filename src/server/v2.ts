import { isDigest } from "../image/digest.js";
import { dashed, isRepositoryName, isTag } from "../image/names.js";
import type { RequestContext } from "./context.js";
import { craneManifest, craneServe } from "./crane-mode.js";
import { API_VERSION_HEADER, sendJson } from "./http.js";
import { isRaasRepo, paginate, raasBlob, raasManifest, raasTagsList } from "./raas-mode.js";
import { serveReferrers } from "./referrers.js";
import { noRoute, RegistryError } from "./registry-error.js";

const KINDS = new Set(["manifests", "blobs", "tags", "referrers"]);

/**
 * `/v2/<name>/<kind>/<ref>`, where `segments` are the decoded path segments after `/v2/`.
 * Unlike Crane, which takes the right-most `tags|manifests|blobs` anywhere in the path (and
 * crashes with a 500 on `manifests/a/b`), the kind must be the second-to-last segment; every
 * part is validated against the OCI grammar before it is used in a path or URL.
 */
export function handleV2(ctx: RequestContext, segments: string[]): Promise<void> | void {
  const { req, res, snap } = ctx;
  if (segments.length === 1 && segments[0] === "") {
    return ctx.access.authorizeBase(req).then(() => sendJson(req, res, 200, {}, API_VERSION_HEADER));
  }
  if (segments.length === 1 && segments[0] === "_catalog") {
    return ctx.access.catalogFilter(req).then((mayPull) => {
      const names = [...snap.index.v2.values()]
        .filter((repo) => repo.meta.protected !== true && mayPull(repo.meta["repo-registry-id"]))
        .map((repo) => repo.meta["repo-registry-id"])
        .sort();
      paginate(ctx, names, "/v2/_catalog", (page) => ({ repositories: page }));
    });
  }
  const kind = segments[segments.length - 2];
  const ref = segments[segments.length - 1] ?? "";
  if (segments.length < 3 || kind === undefined || !KINDS.has(kind)) {
    throw noRoute();
  }
  const name = segments.slice(0, -2).join("/");
  if (!isRepositoryName(name)) {
    throw new RegistryError(400, "NAME_INVALID", "invalid repository name", { name: name.slice(0, 300) });
  }
  // Before the lookup: whether a repository exists is not told to someone who may not pull it.
  // Mode off lets everyone pull: no call, so a pull from the snapshot waits for nothing.
  if (ctx.access.mode === "off") return serveRepository(ctx, name, kind, ref);
  return ctx.access.authorizeRequest(req, name, "pull").then(() => serveRepository(ctx, name, kind, ref));
}

/** A request for `name`'s manifests, blobs, referrers or tags, once it may be pulled. */
function serveRepository(ctx: RequestContext, name: string, kind: string, ref: string): Promise<void> | void {
  const repo = ctx.snap.index.v2.get(name);
  // Protected repos need an entitlement certificate, which this server does not read: like
  // Crane without a certificate, they do not exist (404, so their existence is not revealed).
  if (repo === undefined || repo.meta.protected === true) {
    throw new RegistryError(404, "NAME_UNKNOWN", "repository name not known to registry", { name });
  }
  if (kind === "blobs") {
    if (!isDigest(ref)) {
      throw new RegistryError(400, "DIGEST_INVALID", "invalid digest", { digest: ref.slice(0, 100) });
    }
    return isRaasRepo(repo)
      ? raasBlob(ctx, repo, ref)
      : craneServe(ctx, repo, `blobs/${ref}`, "application/octet-stream");
  }
  if (kind === "referrers") {
    if (!isDigest(ref)) {
      throw new RegistryError(400, "DIGEST_INVALID", "invalid digest", { digest: ref.slice(0, 100) });
    }
    if (ctx.store === undefined) throw noRoute();
    return serveReferrers(ctx, ctx.store, dashed(name), ref);
  }
  if (kind === "manifests") {
    if (ref.includes(":") && !isDigest(ref)) {
      throw new RegistryError(400, "DIGEST_INVALID", "invalid digest", { digest: ref.slice(0, 100) });
    }
    if (!isDigest(ref) && !isTag(ref)) {
      throw new RegistryError(404, "MANIFEST_UNKNOWN", "manifest unknown", {
        reference: ref.slice(0, 150),
      });
    }
    return isRaasRepo(repo) ? raasManifest(ctx, repo, ref) : craneManifest(ctx, repo, ref);
  }
  // tags: raas answers `tags/list` itself; a plain Crane file redirects like Crane does.
  if (isRaasRepo(repo)) {
    if (ref !== "list") throw noRoute();
    return raasTagsList(ctx, repo);
  }
  if (!isTag(ref)) throw noRoute();
  return craneServe(ctx, repo, `tags/${ref}`, "application/json");
}
