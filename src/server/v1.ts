import { join } from "node:path";
import type { V1Repo } from "../crane/load.js";
import { isImageId } from "../crane/parse.js";
import { pythonJson } from "../crane/python-json.js";
import { isHttpUrl } from "../crane/raas-extension.js";
import type { RequestContext } from "./context.js";
import { isFile, redirect, send, sendFile } from "./http.js";
import { handleSearch } from "./search.js";

/** Crane's v1 after_request headers, on every response of a matched v1 route. */
const V1_HEADERS = { "X-Docker-Registry-Version": "0.6.6", "X-Docker-Registry-Config": "common" };
const STANDALONE = { "X-Docker-Registry-Standalone": "True" };
const JSON_TYPE = { "Content-Type": "application/json" };

function notFound(ctx: RequestContext): void {
  send(ctx.req, ctx.res, 404, "Not Found", { ...V1_HEADERS, "Content-Type": "text/html; charset=utf-8" });
}

/** Crane's `validate_and_transform_repoid`: at most one `/`, and `library/` is dropped. */
function findRepo(ctx: RequestContext, repoId: string): V1Repo | undefined {
  if (repoId.split("/").length > 2) return undefined;
  const id = repoId.startsWith("library/") ? repoId.slice("library/".length) : repoId;
  const repo = ctx.snap.index.v1.get(id);
  // The v1 protocol has no token auth: with [auth] on, it serves public repositories only.
  return repo === undefined || repo.meta.protected === true || !ctx.access.isPublic(id) ? undefined : repo;
}

export async function handleV1(ctx: RequestContext, segments: string[]): Promise<void> {
  const { req, res } = ctx;
  const [first, ...rest] = segments;
  if (first === "_ping" && rest.length === 0) {
    return send(req, res, 200, "true", { ...V1_HEADERS, ...STANDALONE, ...JSON_TYPE });
  }
  if (first === "users" && (rest.length === 0 || (rest.length === 1 && rest[0] === ""))) {
    return req.method === "POST"
      ? send(req, res, 201, '"User Created"', { ...V1_HEADERS, ...STANDALONE, ...JSON_TYPE })
      : send(req, res, 200, '"OK"', { ...V1_HEADERS, ...STANDALONE, ...JSON_TYPE });
  }
  if (first === "search" && rest.length === 0) return handleSearch(ctx);
  if (first === "repositories" && rest.length >= 2) return repositories(ctx, rest);
  if (first === "images" && rest.length === 2) return image(ctx, rest[0] ?? "", rest[1] ?? "");
  return notFound(ctx);
}

function repositories(ctx: RequestContext, parts: string[]): void {
  const last = parts[parts.length - 1];
  let repoId: string;
  let tag: string | undefined;
  if (last === "images" || last === "tags") {
    repoId = parts.slice(0, -1).join("/");
  } else if (parts.length >= 3 && parts[parts.length - 2] === "tags") {
    repoId = parts.slice(0, -2).join("/");
    tag = last;
  } else {
    return notFound(ctx);
  }
  const repo = findRepo(ctx, repoId);
  if (repo === undefined) return notFound(ctx);
  const { req, res, config } = ctx;
  if (last === "images") {
    const endpoint = config.endpoint !== "" ? config.endpoint : (req.headers.host ?? "");
    return send(req, res, 200, repo.imagesJson, {
      ...V1_HEADERS,
      ...JSON_TYPE,
      "X-Docker-Endpoints": endpoint,
    });
  }
  if (tag === undefined) return send(req, res, 200, repo.tagsJson, { ...V1_HEADERS, ...JSON_TYPE });
  const id = Object.hasOwn(repo.meta.tags, tag) ? repo.meta.tags[tag] : undefined;
  if (id === undefined) return notFound(ctx);
  send(req, res, 200, pythonJson(id), { ...V1_HEADERS, ...JSON_TYPE });
}

const V1_FILES = new Set(["ancestry", "json", "layer"]);

/**
 * `/v1/images/<id>/<file>` through the global image index: the first repo (in data-dir file
 * order) that lists the id and may be served wins. This is what lets an ISV image's ancestry
 * reach vendor layers listed only in the vendor's file (federation, FORMATS.md §3).
 */
async function image(ctx: RequestContext, id: string, file: string): Promise<void> {
  const repoIds = ctx.snap.index.images.get(id) ?? [];
  const repo = repoIds
    .map((rid) => ctx.snap.index.v1.get(rid))
    .find(
      (r) => r !== undefined && r.meta.protected !== true && ctx.access.isPublic(r.meta["repo-registry-id"]),
    );
  if (repo === undefined || !V1_FILES.has(file) || !isImageId(id)) return notFound(ctx);
  const { req, res, config } = ctx;
  if (config.serveContent.enable) {
    const path = join(config.serveContent.contentDirV1, repo.meta.repository, id, file);
    const headers = {
      ...V1_HEADERS,
      "Content-Type": file === "layer" ? "application/octet-stream" : "application/json",
    };
    if (config.serveContent.useXSendfile) {
      if (await isFile(path)) return send(req, res, 200, "", { ...headers, "X-Sendfile": path });
    } else if (await sendFile(req, res, path, headers)) {
      return;
    }
    // raas difference: a repo whose files are not in the content dir but whose url is http(s)
    // (a vendor's metadata file, FORMATS.md §3) is redirected, so federation works when the
    // ISV's own layers are served from local storage. Crane answered 404 here.
    if (!isHttpUrl(repo.meta.url)) return notFound(ctx);
  }
  const base = repo.meta.url.endsWith("/") ? repo.meta.url : `${repo.meta.url}/`;
  redirect(req, res, 302, `${base}${id}/${file}`, V1_HEADERS);
}
