/**
 * A fault-injecting HTTP proxy on 127.0.0.1, put between raas (or the registry) and an S3
 * endpoint such as s3rver. Each request is either forwarded unchanged or, at `faultRate`,
 * answered with one of the faults real S3 services produce under load: 503 SlowDown, 500
 * InternalError, a connection reset in the middle of the request body, or a long stall before
 * forwarding. It also counts requests, so benchmarks can report how many calls a command made.
 *
 * Faults are drawn from a seeded generator: a failing run can be replayed with the same seed.
 * The proxy never alters forwarded bytes, so every check raas makes (signed payload hashes, digests)
 * still sees the real data; only availability is attacked.
 */
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type FaultKind = "slowdown" | "internal" | "reset" | "slow";

export interface FaultProxyOptions {
  /** Where requests go, e.g. http://127.0.0.1:4569 (s3rver). */
  target: string;
  /** Share of requests that get a fault, 0..1. */
  faultRate?: number;
  /** Which faults to draw from (default: all four). */
  kinds?: FaultKind[];
  /** Stall of a "slow" fault, in ms (default 1500). */
  slowMs?: number;
  /** Delay added before forwarding every request, to widen timing windows (default 0). */
  delayMs?: number;
  /** Seed of the fault generator (default 1). */
  seed?: number;
}

export interface FaultProxyStats {
  requests: number;
  /** Requests by method, e.g. { HEAD: 12, PUT: 30 }. */
  byMethod: Record<string, number>;
  faults: Record<FaultKind, number>;
  /** Most PUT requests (object and part uploads) open at the same time. */
  maxPutsInFlight: number;
  /** The path (without query) of every PUT, in arrival order. */
  putPaths: string[];
}

export interface FaultProxy {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  port: number;
  stats(): FaultProxyStats;
  resetStats(): void;
  setFaultRate(rate: number): void;
  setDelay(ms: number): void;
  stop(): Promise<void>;
}

/** mulberry32: a tiny, good-enough seeded generator, so fault sequences are reproducible. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function s3Error(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
  res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Read and drop the request body (S3 answers errors after the upload, as clients expect). */
async function drain(req: IncomingMessage): Promise<void> {
  for await (const chunk of req) void chunk;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const kinds = options.kinds ?? ["slowdown", "internal", "reset", "slow"];
  const random = seeded(options.seed ?? 1);
  let faultRate = options.faultRate ?? 0;
  let delayMs = options.delayMs ?? 0;
  const slowMs = options.slowMs ?? 1500;
  const empty = (): FaultProxyStats => ({
    requests: 0,
    byMethod: {},
    faults: { slowdown: 0, internal: 0, reset: 0, slow: 0 },
    maxPutsInFlight: 0,
    putPaths: [],
  });
  let putsInFlight = 0;
  let stats = empty();
  const sockets = new Set<Socket>();
  // Our own agent, so stop() can close the upstream keep-alive sockets (or s3rver never closes).
  const agent = new Agent({ keepAlive: true });

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        // The Host header stays as signed by the client (s3rver does not check SigV4 signatures).
        headers: req.headers,
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  };

  const server = createServer((req, res) => {
    stats.requests += 1;
    const method = req.method ?? "GET";
    stats.byMethod[method] = (stats.byMethod[method] ?? 0) + 1;
    if (method === "PUT") {
      stats.putPaths.push((req.url ?? "").split("?")[0] ?? "");
      putsInFlight += 1;
      stats.maxPutsInFlight = Math.max(stats.maxPutsInFlight, putsInFlight);
      res.once("close", () => void (putsInFlight -= 1));
    }
    const fault = random() < faultRate ? kinds[Math.floor(random() * kinds.length)] : undefined;
    void (async () => {
      if (delayMs > 0) await sleep(delayMs);
      if (fault !== undefined) stats.faults[fault] += 1;
      switch (fault) {
        case "slowdown":
          await drain(req);
          return s3Error(res, 503, "SlowDown", "Please reduce your request rate.");
        case "internal":
          await drain(req);
          return s3Error(res, 500, "InternalError", "We encountered an internal error. Please try again.");
        case "reset": {
          // Cut the connection once some of the body arrived (or at once for bodiless requests).
          const cut = () => req.socket.destroy();
          if (req.headers["content-length"] === undefined || req.headers["content-length"] === "0") cut();
          else req.once("data", cut);
          return;
        }
        case "slow":
          await sleep(slowMs);
          return forward(req, res);
        default:
          return forward(req, res);
      }
    })().catch(() => res.destroy());
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stats: () => structuredClone(stats),
    resetStats: () => void (stats = empty()),
    setFaultRate: (rate) => void (faultRate = rate),
    setDelay: (ms) => void (delayMs = ms),
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
