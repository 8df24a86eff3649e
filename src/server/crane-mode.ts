import { join } from "node:path";
import type { V2Repo } from "../crane/load.js";
import { MediaType } from "../image/media-types.js";
import { cdnRedirectUrl } from "./cdn.js";
import type { RequestContext } from "./context.js";
import { API_VERSION_HEADER, acceptSet, isFile, redirect, send, sendFile } from "./http.js";
import { RegistryError } from "./registry-error.js";

const LIST = MediaType.dockerManifestList;
const S2 = MediaType.dockerManifest;

/**
 * Crane's manifest path rewrite for v3/v4 files (FORMATS.md §2.4): returns the path below the
 * repository's base URL and the media type Crane would serve it with in serve_content mode.
 */
export function craneManifestPath(
  repo: V2Repo,
  identifier: string,
  accept: Set<string>,
): { path: string; type: string } {
  const meta = repo.meta;
  if (meta.version === 2) return { path: `manifests/${identifier}`, type: "application/json" };
  const schema2 = meta.schema2_data;
  const lists = meta.version === 4 ? meta.manifest_list_data : [];
  const amd64 = meta.version === 4 ? meta.manifest_list_amd64_tags : {};
  if (schema2.length === 0 && lists.length === 0) {
    return { path: `manifests/1/${identifier}`, type: "application/json" };
  }
  if (accept.has(LIST) && lists.includes(identifier)) {
    return { path: `manifests/list/${identifier}`, type: LIST };
  }
  const entry = Object.hasOwn(amd64, identifier) ? amd64[identifier] : undefined;
  if (entry !== undefined) {
    const [digest, version] = entry;
    if (accept.has(S2)) {
      return { path: `manifests/${version}/${digest}`, type: version === 2 ? S2 : "application/json" };
    }
    if (version === 1) return { path: `manifests/1/${digest}`, type: "application/json" };
    return { path: `manifests/1/${identifier}`, type: "application/json" };
  }
  if (accept.has(S2) && schema2.includes(identifier)) return { path: `manifests/2/${identifier}`, type: S2 };
  return { path: `manifests/1/${identifier}`, type: "application/json" };
}

/**
 * Answer like Crane for a plain Crane file: a 302 to `url/<path>` (with the CDN rewrite and
 * token), or the file `content_dir_v2/<repository>/<path>` in serve_content mode. `path` is built
 * from validated segments only (tag or digest grammar), so it cannot leave the repository.
 */
export async function craneServe(
  ctx: RequestContext,
  repo: V2Repo,
  path: string,
  type: string,
): Promise<void> {
  const { req, res, config } = ctx;
  if (config.serveContent.enable) {
    const file = join(config.serveContent.contentDirV2, repo.meta.repository, path);
    const headers = { ...API_VERSION_HEADER, "Content-Type": type, ...maxAge(ctx, path) };
    if (config.serveContent.useXSendfile) {
      // Apache's mod_xsendfile sends the file; check it exists so a miss is still a 404.
      if (await isFile(file)) return send(req, res, 200, "", { ...headers, "X-Sendfile": file });
    } else if (await sendFile(req, res, file, headers)) {
      return;
    }
    throw new RegistryError(
      404,
      path.startsWith("blobs/") ? "BLOB_UNKNOWN" : "MANIFEST_UNKNOWN",
      "not found",
    );
  }
  if (!ctx.access.isPublic(repo.meta["repo-registry-id"])) {
    // A plain Crane file only knows a public base URL: a private repository is never sent there.
    throw new RegistryError(403, "DENIED", "private repositories are served from raas metadata only");
  }
  const base = repo.meta.url.endsWith("/") ? repo.meta.url : `${repo.meta.url}/`;
  redirect(req, res, 302, cdnRedirectUrl(base + path, config.cdn, ctx.now));
}

/** Crane caches mutable names (tags) for one polling interval; digests get the default. */
function maxAge(ctx: RequestContext, path: string): Record<string, string> {
  const name = path.slice(path.lastIndexOf("/") + 1);
  return name.startsWith("sha256:")
    ? {}
    : { "Cache-Control": `public, max-age=${Math.floor(ctx.config.pollingInterval)}` };
}

export function craneManifest(ctx: RequestContext, repo: V2Repo, identifier: string): Promise<void> {
  const meta = repo.meta;
  const known =
    (meta.version !== 2 && meta.schema2_data.includes(identifier)) ||
    (meta.version === 4 &&
      (meta.manifest_list_data.includes(identifier) ||
        Object.hasOwn(meta.manifest_list_amd64_tags, identifier)));
  // Only references the metadata lists are counted: any other tag would let clients grow the series set.
  if (known && ctx.req.method === "GET") ctx.metrics.pull(meta["repo-registry-id"], identifier);
  const { path, type } = craneManifestPath(repo, identifier, acceptSet(ctx.req));
  return craneServe(ctx, repo, path, type);
}
