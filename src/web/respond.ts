import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Html } from "./html.js";

/**
 * No inline script or style, nothing from another origin, no framing, forms only to this
 * origin. The SVG chart is inline markup styled from the stylesheet, so it needs no exception.
 */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export const PAGE_HEADERS: OutgoingHttpHeaders = {
  "Content-Type": "text/html; charset=utf-8",
  "Content-Security-Policy": CSP,
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  // Same-origin requests keep their Origin header (the login form's CSRF check reads it); other
  // sites learn nothing, not even that a link was followed from here.
  "Referrer-Policy": "same-origin",
  // What a page shows depends on who asks: never a shared cache.
  "Cache-Control": "private, no-cache",
};

export function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: Buffer | string,
  headers: OutgoingHttpHeaders,
): void {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  res.writeHead(status, { ...headers, "Content-Length": bytes.length });
  res.end(req.method === "HEAD" ? undefined : bytes);
}

export const sendPage = (
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  doc: Html,
  headers: OutgoingHttpHeaders = {},
) => send(req, res, status, doc.toString(), { ...PAGE_HEADERS, ...headers });
