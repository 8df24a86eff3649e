import { createHmac } from "node:crypto";
import type { ServerConfig } from "./config.js";

/**
 * Crane's Akamai-style token (FORMATS.md §2.8): `exp=<t>~hmac=<hex>` over `exp=<t>~url=<path>`.
 * Crane always appends with `?`, which breaks a URL that already has a query (two `?`); we append
 * with `&` then. The signed part is the path only, so the token itself is the same.
 */
export function cdnToken(
  path: string,
  secret: Buffer,
  expires: number,
  algo: ServerConfig["cdn"]["authAlgo"],
): string {
  const token = `exp=${expires}~`;
  const hmac = createHmac(algo, secret).update(`${token}url=${path}`).digest("hex");
  return `${token}hmac=${hmac}`;
}

function urlPath(url: string): string {
  // Python's urlparse(url).path: what follows the authority, up to ? or #.
  const match = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*([^?#]*)/.exec(url);
  return match?.[1] ?? "";
}

/** Crane's v2 redirect post-processing: the url_match/url_replace rewrite, then the token. */
export function cdnRedirectUrl(url: string, cdn: ServerConfig["cdn"], now: Date): string {
  let out = url;
  if (cdn.urlMatch !== "" && cdn.urlReplace !== "") out = out.split(cdn.urlMatch).join(cdn.urlReplace);
  if (cdn.authSecret !== undefined) {
    const expires = Math.floor(now.getTime() / 1000) + cdn.authTtl;
    const separator = out.includes("?") ? "&" : "?";
    out = `${out}${separator}${cdn.authParam}=${cdnToken(urlPath(out), cdn.authSecret, expires, cdn.authAlgo)}`;
  }
  return out;
}
