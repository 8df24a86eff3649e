/**
 * Node http adapters: what the registry server mounts. Everything else in src/auth is framework
 * free; this file only moves bytes between node:http and those functions.
 *
 *   const route = createTokenRoute(tokenService);         // in the request handler, first:
 *   if (await route(req, res)) return;                     // handled GET/POST /token
 *   ...
 *   try { await authorizer.authorize(req, name, "pull") } catch (e) { if (sendAuthError(req, res, e)) return; throw e; }
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuthResponse } from "./errors.js";
import { RegistryAuthError } from "./errors.js";
import type { TokenService } from "./token-service.js";
import { MAX_FORM_BYTES } from "./token-service.js";

export const TOKEN_PATH = "/token";

function write(req: IncomingMessage, res: ServerResponse, response: AuthResponse): void {
  const body = Buffer.from(response.body);
  res.writeHead(response.status, { ...response.headers, "Content-Length": body.length });
  res.end(req.method === "HEAD" ? undefined : body);
}

/** The body as text, or undefined when it exceeds the limit (the rest is not read). */
async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Returns true when the request was for the token endpoint and has been answered. */
export function createTokenRoute(
  service: TokenService,
  path = TOKEN_PATH,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const url = req.url ?? "/";
    const pathname = url.split("?")[0];
    if (pathname !== path) return false;
    let body: string | undefined;
    if (req.method === "POST") {
      body = await readBody(req, MAX_FORM_BYTES);
      if (body === undefined) {
        write(req, res, {
          status: 413,
          headers: { "Content-Type": "application/json", Connection: "close" },
          body: JSON.stringify({ error: "invalid_request", error_description: "form too large" }),
        });
        return true;
      }
    }
    const response = await service.handle({
      method: req.method ?? "GET",
      url,
      headers: req.headers,
      ...(body === undefined ? {} : { body }),
      remoteAddress: req.socket.remoteAddress ?? "unknown",
    });
    write(req, res, response);
    return true;
  };
}

/** Send a RegistryAuthError as the OCI error response; false for any other error. */
export function sendAuthError(req: IncomingMessage, res: ServerResponse, err: unknown): boolean {
  if (!(err instanceof RegistryAuthError)) return false;
  write(req, res, {
    ...err.toResponse(),
    headers: { ...err.toResponse().headers, "Docker-Distribution-API-Version": "registry/2.0" },
  });
  return true;
}
