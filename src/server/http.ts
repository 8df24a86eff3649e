import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";

export type Req = IncomingMessage;
export type Res = ServerResponse;

export const API_VERSION_HEADER = { "Docker-Distribution-API-Version": "registry/2.0" };

const BYTES = Symbol("raas.responseBytes");
type CountedRes = Res & { [BYTES]?: number };

/**
 * Body bytes announced per response (Content-Length), for the access log. Kept as a property of
 * the response rather than a WeakMap entry: one per request, a WeakMap entry costs more to add
 * and to collect than the property.
 */
export const responseBytes = {
  set(res: Res, bytes: number): void {
    (res as CountedRes)[BYTES] = bytes;
  },
  get(res: Res): number | undefined {
    return (res as CountedRes)[BYTES];
  },
};

export function isHead(req: Req): boolean {
  return req.method === "HEAD";
}

/** Send a complete body (or only its headers for HEAD). */
export function send(
  req: Req,
  res: Res,
  status: number,
  body: string | Buffer,
  headers: OutgoingHttpHeaders,
): void {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  responseBytes.set(res, bytes.length);
  res.writeHead(status, { ...headers, "Content-Length": bytes.length });
  res.end(isHead(req) ? undefined : bytes);
}

export function sendJson(
  req: Req,
  res: Res,
  status: number,
  value: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  send(req, res, status, JSON.stringify(value), { "Content-Type": "application/json", ...headers });
}

/** A redirect's headers (Location and Content-Length included) and body, made once, sent many times. */
export interface PreparedRedirect {
  status: 302 | 307;
  headers: OutgoingHttpHeaders;
  body: Buffer;
}

/** Crane/Werkzeug style redirect: status, Location and a small HTML body. */
export function prepareRedirect(
  status: 302 | 307,
  location: string,
  headers: OutgoingHttpHeaders = {},
): PreparedRedirect {
  const escaped = /[&<"]/.test(location)
    ? location.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;")
    : location;
  const body = Buffer.from(
    `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n<p>You should be redirected automatically to target URL: <a href="${escaped}">${escaped}</a>.  If not click the link.`,
  );
  return {
    status,
    headers: {
      ...headers,
      Location: location,
      "Content-Type": "text/html; charset=utf-8",
      "Content-Length": body.length,
    },
    body,
  };
}

export function sendRedirect(req: Req, res: Res, prepared: PreparedRedirect): void {
  responseBytes.set(res, prepared.body.length);
  res.writeHead(prepared.status, prepared.headers);
  res.end(isHead(req) ? undefined : prepared.body);
}

/** Crane/Werkzeug style redirect: status, Location and a small HTML body. */
export function redirect(
  req: Req,
  res: Res,
  status: 302 | 307,
  location: string,
  headers: OutgoingHttpHeaders = {},
): void {
  sendRedirect(req, res, prepareRedirect(status, location, headers));
}

/**
 * The set of media types in an Accept header, as Crane's `get_accept_headers` builds it:
 * comma-split, parameters dropped, whitespace trimmed. Several Accept headers are merged.
 */
export function acceptSet(req: Req): Set<string> {
  const raw = req.headers.accept;
  const text = Array.isArray(raw) ? raw.join(",") : (raw ?? "");
  return new Set(
    text
      .split(",")
      .map((part) => (part.split(";")[0] ?? "").trim())
      .filter((part) => part !== ""),
  );
}

export type RangeResult = { start: number; end: number } | "unsatisfiable" | undefined;

/** One `bytes=` range (`a-b`, `a-`, `-n`); anything else (several ranges, junk) is ignored, per RFC 9110. */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match == null) return undefined;
  const [, from = "", to = ""] = match;
  if (from === "" && to === "") return undefined;
  if (from === "") {
    const suffix = Number(to);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(from);
  const end = to === "" ? size - 1 : Math.min(Number(to), size - 1);
  if (start >= size || (to !== "" && Number(to) < start)) return "unsatisfiable";
  return { start, end };
}

/**
 * Stream a file with Content-Length and single-range support. Returns false when the file does not
 * exist (the caller answers 404); the file is opened once, so a swap mid-request cannot mix files.
 */
export async function sendFile(
  req: Req,
  res: Res,
  path: string,
  headers: OutgoingHttpHeaders,
): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch {
    return false;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return false;
    const size = stats.size;
    const range = parseRange(req.headers.range, size);
    if (range === "unsatisfiable") {
      res.writeHead(416, { ...headers, "Content-Range": `bytes */${size}`, "Content-Length": 0 });
      res.end();
      return true;
    }
    const status = range === undefined ? 200 : 206;
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const out: OutgoingHttpHeaders = {
      ...headers,
      "Accept-Ranges": "bytes",
      "Content-Length": Math.max(0, end - start + 1),
    };
    if (range !== undefined) out["Content-Range"] = `bytes ${start}-${end}/${size}`;
    responseBytes.set(res, Math.max(0, end - start + 1));
    res.writeHead(status, out);
    if (isHead(req) || size === 0) {
      res.end();
      return true;
    }
    const stream = createReadStream("", { fd: handle, start, end, autoClose: false });
    await pipeline(stream, res).catch(() => res.destroy());
    return true;
  } finally {
    await handle.close();
  }
}

export async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}
