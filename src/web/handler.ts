import type { IncomingMessage, ServerResponse } from "node:http";
import { isDigest } from "../image/digest.js";
import { isRepositoryName, isTag } from "../image/names.js";
import { ASSETS } from "./assets.js";
import type { RepositoryDetail, Visitor, WebCatalog, WebOptions } from "./catalog.js";
import { h } from "./html.js";
import { page, type Account } from "./layout.js";
import { cookieName, isSecure, loginRoute, logoutRoute, readCookie } from "./login.js";
import { ConfigCache } from "./model.js";
import { imagePage } from "./pages-image.js";
import { listPage, MAX_QUERY } from "./pages-list.js";
import { repositoryPage } from "./pages-repo.js";
import { send, sendPage } from "./respond.js";
import type { ViewContext } from "./view-context.js";

export type WebHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

const HOST_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

function notFound(req: IncomingMessage, res: ServerResponse, what: string, account?: Account): void {
  sendPage(
    req,
    res,
    404,
    page(
      "Not found",
      [{ label: "Repositories", url: "/ui/" }, { label: "Not found" }],
      h`<h1>Not found</h1>
<p>${what}</p>
<p><a href="/ui/">Browse all repositories</a></p>`,
      account,
    ),
  );
}

/** Split `/ui/...` into decoded segments; undefined when a segment cannot be decoded or holds `/`. */
function segmentsOf(path: string): string[] | undefined {
  try {
    const segments = path.split("/").map((s) => decodeURIComponent(s));
    return segments.some((s) => s.includes("/") || s.includes("\0")) ? undefined : segments;
  } catch {
    return undefined;
  }
}

/**
 * The web page as one handler for every path under `/ui`. The catalog is the registry's
 * metadata; `options.canPull` decides, per visitor, which repositories exist for this page:
 * one the visitor may not pull answers exactly like one that does not exist.
 */
export function createWebHandler(catalog: WebCatalog, options: WebOptions = {}): WebHandler {
  const configs = new ConfigCache(catalog);
  const auth = options.auth;

  return async (req, res) => {
    const raw = req.url ?? "/";
    const q = raw.indexOf("?");
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
    if (path === "/ui") return send(req, res, 301, "", { Location: "/ui/" });
    const segments = path.length > 2048 ? undefined : segmentsOf(path);
    if (segments === undefined || segments[1] !== "ui") return notFound(req, res, "There is no such page.");
    const rest = segments.slice(2);
    const login = rest.length === 1 && (rest[0] === "login" || rest[0] === "logout");
    if (req.method !== "GET" && req.method !== "HEAD" && !(login && auth !== undefined)) {
      return send(req, res, 405, "Method Not Allowed", { Allow: "GET, HEAD", "Content-Type": "text/plain" });
    }

    if (rest[0] === "-" && rest.length === 2) {
      const asset = rest[1] === "app.css" || rest[1] === "app.js" ? ASSETS[rest[1]] : undefined;
      if (asset === undefined) return notFound(req, res, "There is no such file.");
      const headers = {
        "Content-Type": asset.type,
        ETag: asset.etag,
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
      };
      if (req.headers["if-none-match"] === asset.etag) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      return send(req, res, 200, asset.body, headers);
    }

    // Who is asking, once per request: the session cookie, else the request's own credentials.
    const secure = isSecure(req);
    const visitor: Visitor | undefined =
      auth === undefined ? undefined : await auth.visitor(req, readCookie(req, cookieName(secure)));
    const canPull =
      visitor === undefined
        ? (n: string) => options.canPull?.(n, req) ?? true
        : (n: string) => visitor.canPull(n);
    const account: Account | undefined =
      auth === undefined || visitor === undefined
        ? undefined
        : {
            mode: auth.mode,
            ...(visitor.name === undefined ? {} : { name: visitor.name }),
            session: visitor.session,
            ...(raw.length <= 1024 && !login ? { here: raw } : {}),
          };
    if (login && auth !== undefined && visitor !== undefined && account !== undefined) {
      const loginCtx = { auth, visitor, account, secure };
      return rest[0] === "login" ? loginRoute(req, res, loginCtx, query) : logoutRoute(req, res, loginCtx);
    }

    const hostHeader = req.headers.host ?? "";
    const plainHttp = options.plainHttp ?? !secure;
    const ctx: ViewContext = {
      catalog,
      configs,
      options,
      host: options.registryHost ?? (HOST_RE.test(hostHeader) ? hostHeader : "registry.example"),
      plainHttp,
      ...(plainHttp || options.certDir === undefined ? {} : { certDir: options.certDir }),
      ...(account === undefined ? {} : { account }),
      ...(visitor === undefined ? {} : { needsLogin: (n: string) => visitor.needsLogin(n) }),
    };

    if (rest.length === 1 && rest[0] === "") {
      const all = catalog.repositories().filter((r) => canPull(r.name));
      const pageNo = Number(query.get("page") ?? "1");
      return sendPage(
        req,
        res,
        200,
        listPage(
          all,
          (query.get("q") ?? "").slice(0, MAX_QUERY),
          Number.isFinite(pageNo) ? Math.trunc(pageNo) : 1,
          account,
        ),
      );
    }
    const missing = (what: string) => notFound(req, res, what, account);
    if (rest[0] !== "r" || rest.length < 2) return missing("There is no such page.");

    const parts = rest.slice(1);
    const dash = parts.indexOf("-");
    const name = (dash < 0 ? parts : parts.slice(0, dash)).join("/");
    const visible = (n: string): RepositoryDetail | undefined =>
      isRepositoryName(n) && canPull(n) ? catalog.repository(n) : undefined;
    const repo = visible(name);
    if (repo === undefined) {
      return missing("There is no repository by that name, or you may not pull it.");
    }
    if (dash < 0) return sendPage(req, res, 200, await repositoryPage(ctx, repo, query));

    const [, kind, ref, ...extra] = parts.slice(dash);
    if (extra.length > 0 || ref === undefined) return missing("There is no such page.");
    if (kind === "t" && isTag(ref)) {
      const digest = repo.tags.get(ref);
      const manifest = digest === undefined ? undefined : repo.manifests.get(digest);
      if (manifest === undefined) return missing("This repository has no such tag.");
      return sendPage(req, res, 200, await imagePage(ctx, repo, manifest, ref));
    }
    if (kind === "d" && isDigest(ref)) {
      const manifest = repo.manifests.get(ref);
      if (manifest === undefined) {
        return missing("This repository has no manifest with that digest.");
      }
      return sendPage(req, res, 200, await imagePage(ctx, repo, manifest, undefined));
    }
    return missing("There is no such page.");
  };
}

/**
 * Whether a request to `/` comes from a browser that asked for a page: registry clients never
 * send `text/html`, so they keep getting what `/` answered before the page existed.
 */
export function wantsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  const text = Array.isArray(accept) ? accept.join(",") : (accept ?? "");
  return text.split(",").some((part) => (part.split(";")[0] ?? "").trim().toLowerCase() === "text/html");
}
