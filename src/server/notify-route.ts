/**
 * POST /raas/notify: "the app repository moved, look now" (follow mode). Anyone may call it:
 * all it can cause is a check of the followed branch, and checks are coalesced and throttled
 * (follow.ts), so a flood costs at most a few `git ls-remote` a second. Nothing is read from the
 * request: a body over a few bytes is refused, and the connection closed rather than drained.
 */
import { type Req, type Res, send, sendJson } from "./http.js";

const MAX_NOTIFY_BODY = 1024;

export function handleNotify(req: Req, res: Res, notify: () => void): void {
  if (req.method !== "POST") {
    return send(req, res, 405, "Method Not Allowed", { Allow: "POST", "Content-Type": "text/plain" });
  }
  const length = Number(req.headers["content-length"] ?? "0");
  if (req.headers["transfer-encoding"] !== undefined || !(length <= MAX_NOTIFY_BODY)) {
    return send(req, res, 413, "Payload Too Large", { "Content-Type": "text/plain", Connection: "close" });
  }
  req.resume();
  notify();
  sendJson(req, res, 202, { status: "accepted" });
}
