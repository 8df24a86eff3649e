import http from "node:http";
import https from "node:https";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { createSecureContext, type SecureContext } from "node:tls";
import { BodyTooLargeError } from "../../adapters/http-body.js";
import { withDefaultCas } from "../../adapters/trusted-ca.js";

export { BodyTooLargeError };

/** TLS and transport settings for talking to an upstream registry. */
export interface TransportOptions {
  /** Verify the server certificate (default true). false only for test registries. */
  tlsVerify: boolean;
  /**
   * Extra CA certificates (PEM) trusted besides node's default ones (its bundled roots and
   * NODE_EXTRA_CA_CERTS): a redirect to a server with an ordinary certificate still works.
   */
  ca?: string | Buffer;
  /** Use plain HTTP (loopback test registries); otherwise HTTPS. */
  plainHttp: boolean;
  /** Per-request inactivity timeout. */
  timeoutMs: number;
}

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  /** The final URL after redirects. */
  url: URL;
  body: IncomingMessage;
}

const MAX_REDIRECTS = 5;

/** A request that failed at the host a redirect led to, not at the one asked first. */
export class RedirectTargetError extends Error {
  constructor(
    readonly host: string,
    cause: unknown,
  ) {
    super(`after a redirect to ${host}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = "RedirectTargetError";
  }
}

/**
 * One HTTP request with redirects followed. `Authorization` is sent only to the host it was
 * meant for: a redirect to another host (blob storage) goes without it, as the distribution
 * spec requires. A POST (the token service's form) is not redirected: its body holds a secret.
 */
export async function request(
  method: "GET" | "HEAD" | "POST",
  url: URL,
  headers: Record<string, string>,
  options: TransportOptions,
  body?: Buffer,
): Promise<Response> {
  let current = url;
  let sendHeaders = { ...headers };
  for (let hop = 0; ; hop++) {
    const response = await once(method, current, sendHeaders, options, body).catch((err: unknown) => {
      // A failure at the redirect's target (a CDN whose certificate is not trusted, say) must
      // not read as a failure of the registry that redirected.
      if (hop === 0) throw err;
      throw new RedirectTargetError(current.host, err);
    });
    const location = response.headers.location;
    if (method !== "POST" && [301, 302, 303, 307, 308].includes(response.status) && location !== undefined) {
      response.body.resume();
      if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url.host}`);
      const next = new URL(location, current);
      if (next.protocol !== "http:" && next.protocol !== "https:") {
        throw new Error(`redirect to unsupported scheme ${next.protocol}`);
      }
      if (next.host !== current.host) {
        const { Authorization: _dropped, ...rest } = sendHeaders;
        sendHeaders = rest;
      }
      current = next;
      continue;
    }
    return response;
  }
}

function once(
  method: string,
  url: URL,
  headers: Record<string, string>,
  options: TransportOptions,
  body?: Buffer,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const isHttps = url.protocol === "https:";
    const req = (isHttps ? https : http).request(
      url,
      {
        method,
        headers: {
          "User-Agent": "raas",
          ...headers,
          ...(body === undefined ? {} : { "Content-Length": String(body.length) }),
        },
        ...(isHttps ? { rejectUnauthorized: options.tlsVerify, ...trustFor(options) } : {}),
      },
      (res) => {
        res.setTimeout(options.timeoutMs, () =>
          res.destroy(new Error(`no data from ${url.host} for ${options.timeoutMs} ms`)),
        );
        resolve({ status: res.statusCode ?? 0, headers: res.headers, url, body: res });
      },
    );
    req.setTimeout(options.timeoutMs, () =>
      req.destroy(new Error(`no answer from ${url.host} in ${options.timeoutMs} ms`)),
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** One TLS context per transport with extra CAs: node's roots parsed once, not per request. */
const contexts = new WeakMap<TransportOptions, SecureContext>();

function trustFor(options: TransportOptions): { secureContext?: SecureContext } {
  if (options.ca === undefined) return {};
  let secureContext = contexts.get(options);
  if (secureContext === undefined) {
    secureContext = createSecureContext({ ca: withDefaultCas(options.ca) });
    contexts.set(options, secureContext);
  }
  return { secureContext };
}

/** Reads a response body into memory, refusing more than `limit` bytes. */
export async function readBody(body: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(body.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    body.destroy();
    throw new BodyTooLargeError(limit);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      body.destroy();
      throw new BodyTooLargeError(limit);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
