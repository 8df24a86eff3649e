/**
 * Real upstream registries for registry-source and sync tests: Debian's `docker-registry`
 * (distribution 2.8, filesystem storage in a temp dir, loopback port), seeded with skopeo,
 * behind a loopback proxy that counts requests and blob bytes and can demand token auth.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { bcrypt } from "hash-wasm";
import { freePort } from "./free-port.js";

const run = promisify(execFile);

export interface RunningRegistry {
  host: string;
  stop(): Promise<void>;
}

/**
 * Starts `/usr/bin/docker-registry serve` on a loopback port with storage under `dir`. With
 * `htpasswd`, the registry itself demands HTTP Basic credentials (its htpasswd auth, bcrypt).
 */
export async function startDockerRegistry(
  dir: string,
  options: { htpasswd?: { username: string; password: string } } = {},
): Promise<RunningRegistry> {
  const port = await freePort();
  await mkdir(join(dir, "storage"), { recursive: true });
  const auth: string[] = [];
  if (options.htpasswd !== undefined) {
    const hash = await bcrypt({
      password: options.htpasswd.password,
      salt: randomBytes(16),
      costFactor: 5,
      outputType: "encoded",
    });
    await writeFile(join(dir, "htpasswd"), `${options.htpasswd.username}:${hash}\n`);
    auth.push("auth:", "  htpasswd:", "    realm: test-basic", `    path: ${join(dir, "htpasswd")}`);
  }
  const config = join(dir, "config.yml");
  await writeFile(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(dir, "storage")}`,
      ...auth,
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn("/usr/bin/docker-registry", ["serve", config], { stdio: "ignore" });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === (options.htpasswd === undefined ? 200 : 401),
      () => false,
    );
    if (ok) break;
    if (i > 100 || child.exitCode !== null) throw new Error(`docker-registry did not start on ${host}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** `skopeo copy --all oci-archive:<path> docker://<host>/<ref>` into a plain-HTTP loopback registry. */
export async function seed(archive: string, host: string, ref: string, creds?: string): Promise<void> {
  await run(
    "skopeo",
    [
      "copy",
      "--all",
      "--retry-times",
      "0",
      "--dest-tls-verify=false",
      ...(creds === undefined ? [] : ["--dest-creds", creds]),
      `oci-archive:${archive}`,
      `docker://${host}/${ref}`,
    ],
    { timeout: 120_000 },
  );
}

export interface ProxyStats {
  requests: number;
  byMethod: Record<string, number>;
  blobGets: number;
  blobBytes: number;
  manifestGets: number;
  manifestHeads: number;
  tokenRequests: number;
}

export interface CountingProxy {
  host: string;
  stats: ProxyStats;
  reset(): void;
  /** Called for every proxied request before it is forwarded. */
  onRequest?: (req: IncomingMessage) => void;
  stop(): Promise<void>;
}

function emptyStats(): ProxyStats {
  return {
    requests: 0,
    byMethod: {},
    blobGets: 0,
    blobBytes: 0,
    manifestGets: 0,
    manifestHeads: 0,
    tokenRequests: 0,
  };
}

/**
 * A loopback proxy in front of a registry. It counts what clients ask and how many blob
 * bytes leave the upstream. With `auth`, it stands in for a registry with token auth (as
 * Docker Hub, Quay or a raas registry with its token service): /v2/ requests without a valid
 * bearer token get 401 + `WWW-Authenticate: Bearer realm=…/token,service=…`, and /token hands
 * out a random token for the right Basic credentials only.
 */
export async function startProxy(
  target: string,
  auth?: { username: string; password: string },
): Promise<CountingProxy> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const tokens = new Set<string>();
  const proxy: CountingProxy = {
    host,
    stats: emptyStats(),
    reset: () => {
      proxy.stats = emptyStats();
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? "/";
    if (auth !== undefined && url.startsWith("/token")) {
      proxy.stats.tokenRequests++;
      const expected = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
      if (req.headers.authorization !== expected) {
        res
          .writeHead(401, { "Content-Type": "application/json" })
          .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      const token = randomBytes(24).toString("hex");
      tokens.add(token);
      res
        .writeHead(200, { "Content-Type": "application/json" })
        .end(JSON.stringify({ token, expires_in: 300 }));
      return;
    }
    if (auth !== undefined) {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      if (bearer === undefined || !tokens.has(bearer)) {
        res
          .writeHead(401, {
            "WWW-Authenticate": `Bearer realm="http://${host}/token",service="test-upstream"`,
            "Content-Type": "application/json",
          })
          .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
    }
    proxy.onRequest?.(req);
    const method = req.method ?? "GET";
    proxy.stats.requests++;
    proxy.stats.byMethod[method] = (proxy.stats.byMethod[method] ?? 0) + 1;
    const isBlob = /\/blobs\/sha256:/.test(url);
    if (isBlob && method === "GET") proxy.stats.blobGets++;
    if (/\/manifests\//.test(url)) {
      if (method === "GET") proxy.stats.manifestGets++;
      if (method === "HEAD") proxy.stats.manifestHeads++;
    }
    const headers = { ...req.headers, host: target };
    delete headers.authorization;
    const upstream = request(`http://${target}${url}`, { method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.on("data", (chunk: Buffer) => {
        if (isBlob && method === "GET") proxy.stats.blobBytes += chunk.length;
      });
      up.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  };
  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return proxy;
}
