import type { RequestContext } from "./context.js";
import { send } from "./http.js";

/** Loopback peers only: Crane's sample Apache config limits `/crane` to localhost; we enforce it. */
function fromLoopback(ctx: RequestContext): boolean {
  const address = ctx.req.socket.remoteAddress ?? "";
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

const escapeHtml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function v1View(ctx: RequestContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, repo] of ctx.snap.index.v1) {
    out[name] = {
      image_ids: repo.meta.images.map((image) => image.id),
      protected: repo.meta.protected === true,
      tags: repo.meta.tags,
    };
  }
  return out;
}

function v2View(ctx: RequestContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, repo] of ctx.snap.index.v2) out[name] = { protected: repo.meta.protected === true };
  return out;
}

/**
 * `/crane/repositories[/v1|/v2]`: every loaded repository, protected ones included (it is an
 * operator's view). JSON only when Accept is exactly `application/json`, as Crane decides;
 * otherwise a small HTML table. Anything else under `/crane` is a 404.
 */
export function handleAdmin(ctx: RequestContext, segments: string[]): void {
  const { req, res } = ctx;
  const [first, second, ...rest] = segments;
  const version = second === undefined ? "v1" : second;
  if (
    first !== "repositories" ||
    rest.length > 0 ||
    (version !== "v1" && version !== "v2") ||
    !fromLoopback(ctx)
  ) {
    return send(req, res, 404, "Not Found", { "Content-Type": "text/html; charset=utf-8" });
  }
  const view = version === "v1" ? v1View(ctx) : v2View(ctx);
  if (req.headers.accept === "application/json") {
    return send(req, res, 200, JSON.stringify(view), { "Content-Type": "application/json" });
  }
  const rows = Object.entries(view)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([name, value]) =>
        `<tr><td>${escapeHtml(name)}</td><td><code>${escapeHtml(JSON.stringify(value))}</code></td></tr>`,
    )
    .join("\n");
  const html = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Repositories (${version})</title></head>\n<body><h1>Repositories (${version})</h1>\n<table>\n<tr><th>repository</th><th>details</th></tr>\n${rows}\n</table></body></html>\n`;
  send(req, res, 200, html, { "Content-Type": "text/html; charset=utf-8" });
}
