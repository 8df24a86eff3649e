/**
 * Keep-alive connections left idle are closed by one sweep per server instead of Node's
 * keep-alive timer. Node arms a timer on the socket after every response and disarms it when the
 * next request arrives (`keepAliveTimeout`); on a manifest GET that was about 1.8 µs of the
 * worker's 30 µs of CPU per request (bench/README.md, "What made it so": CPU per request
 * 0.94x). Here a request counts itself in flight on its socket and, when it finishes, stamps
 * the clock reading the access log takes anyway; a sweep every second closes each socket that has
 * nothing in flight and has been idle (since its last request finished, or since it connected)
 * for longer than the timeout. A request that runs long (an upload, a slow download) is never cut
 * by it; Node's own `headersTimeout` and `requestTimeout` still bound requests that never finish
 * arriving.
 */
import type { Server } from "node:http";
import { Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";

/**
 * How long a keep-alive connection may stay idle: longer than the 60 s idle timeout common load
 * balancers use, so that they, not the registry, close first (no request meets a closed socket).
 */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

const IN_FLIGHT = Symbol("raas.requestsInFlight");
const IDLE_SINCE = Symbol("raas.idleSince");

type Tracked = Socket & { [IN_FLIGHT]?: number; [IDLE_SINCE]?: number };

/** A request arrived on `socket` (call before anything else of the request). */
export function requestStarted(socket: Socket): void {
  const tracked = socket as Tracked;
  tracked[IN_FLIGHT] = (tracked[IN_FLIGHT] ?? 0) + 1;
}

/** A request on `socket` finished at `now` (`performance.now()`). */
export function requestFinished(socket: Socket, now: number): void {
  const tracked = socket as Tracked;
  tracked[IN_FLIGHT] = Math.max(0, (tracked[IN_FLIGHT] ?? 1) - 1);
  tracked[IDLE_SINCE] = now;
}

/**
 * Closes `server`'s connections once idle for `timeoutMs`, checked every `everyMs`. The server
 * must be created with `keepAliveTimeout: 0` and its handler must call `requestStarted` and
 * `requestFinished`. Returns the function that stops the sweep.
 */
export function closeIdleConnections(
  server: Server,
  options: { timeoutMs?: number; everyMs?: number } = {},
): () => void {
  const timeoutMs = options.timeoutMs ?? KEEP_ALIVE_TIMEOUT_MS;
  const sockets = new Set<Tracked>();
  // Over TLS the request's socket is the TLS one, which exists once the handshake is done (the
  // handshake has its own timeout).
  const event = server instanceof HttpsServer ? "secureConnection" : "connection";
  server.on(event, (socket: Tracked) => {
    socket[IDLE_SINCE] = performance.now();
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  const timer = setInterval(() => {
    const idleBefore = performance.now() - timeoutMs;
    for (const socket of sockets) {
      if ((socket[IN_FLIGHT] ?? 0) === 0 && (socket[IDLE_SINCE] ?? 0) < idleBefore) socket.destroy();
    }
  }, options.everyMs ?? 1000);
  timer.unref();
  return () => clearInterval(timer);
}
