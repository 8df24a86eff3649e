/**
 * Operations: /metrics, the access log, /readyz, TLS, and statelessness (two replicas on one
 * app repo answer identically). Graceful shutdown runs the real process: shutdown.test.ts.
 */
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MediaType } from "../../src/image/media-types.js";
import { OPEN_ACCESS } from "../../src/server/access.js";
import { createRegistryApp, type RegistryDeps, type RequestHandler } from "../../src/server/app.js";
import type { StorageUrlFn } from "../../src/server/storage-url.js";
import { RegistryError } from "../../src/server/registry-error.js";
import { loadServerConfig } from "../../src/server/config.js";
import type { Observer } from "../../src/server/observe.js";
import { emptySnapshot, loadSnapshot } from "../../src/server/snapshot.js";
import { startRegistryServer, type LogRecord, type RunningRegistry } from "../../src/server/start.js";
import { rawRequest } from "../../src/server/testing/fixture.js";
import { selfSignedCert } from "../helpers/tls.js";
import { makeRaasApp, serve, type RaasApp } from "./raas-app.js";

const run = promisify(execFile);

describe("metrics and access log", () => {
  let app: RaasApp;
  let server: RunningRegistry;
  const logs: LogRecord[] = [];
  beforeAll(async () => {
    app = await makeRaasApp();
    server = await serve(app, logs);
  });
  afterAll(async () => {
    await server.close();
    await app.repo.cleanup();
  });

  it("counts requests by route and status, latency, and pulls of known references only", async () => {
    const accept = { Accept: MediaType.dockerManifest };
    for (let i = 0; i < 3; i++) {
      await (await fetch(`${server.url}/v2/acme/app/manifests/latest`, { headers: accept })).arrayBuffer();
    }
    const digest = app.acme.publication.tags["1.0"] ?? "";
    await (await fetch(`${server.url}/v2/acme/app/manifests/${digest}`, { headers: accept })).arrayBuffer();
    await (
      await fetch(`${server.url}/v2/acme/app/manifests/latest`, { method: "HEAD", headers: accept })
    ).arrayBuffer();
    await (await fetch(`${server.url}/v2/acme/app/manifests/nosuchtag`)).arrayBuffer();
    await (await fetch(`${server.url}/v2/acme/app/manifests/invented${"x".repeat(50)}`)).arrayBuffer();
    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    const value = (series: string) =>
      Number(new RegExp(`^${series.replace(/[{}.+"]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1]);
    expect(value('raas_registry_requests_total{route="v2_manifest",status="200"}')).toBe(5);
    expect(value('raas_registry_requests_total{route="v2_manifest",status="404"}')).toBe(2);
    expect(value('raas_registry_request_duration_seconds_count{route="v2_manifest"}')).toBe(7);
    expect(value('raas_registry_request_duration_seconds_bucket{route="v2_manifest",le="+Inf"}')).toBe(7);
    expect(value('raas_registry_manifest_pulls_total{repository="acme/app",reference="latest"}')).toBe(3);
    expect(value(`raas_registry_manifest_pulls_total{repository="acme/app",reference="${digest}"}`)).toBe(1);
    expect(text).not.toContain("nosuchtag");
    expect(text).not.toContain("invented");
    // Every sample line is `name{labels} number` or `name number`.
    for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
      expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$/);
    }
  });

  it("logs one JSON-ready record per request with route, status, timing and size", async () => {
    logs.length = 0;
    await (await fetch(`${server.url}/v2/acme/app/tags/list?n=1`)).arrayBuffer();
    await (await fetch(`${server.url}/v2/nope/blobs/sha256:${"0".repeat(64)}`)).arrayBuffer();
    await new Promise((r) => setTimeout(r, 20));
    const requests = logs.filter((r) => r.event === "request");
    expect(requests).toEqual([
      expect.objectContaining({
        method: "GET",
        path: "/v2/acme/app/tags/list?n=1",
        route: "v2_tags",
        status: 200,
        remote: "127.0.0.1",
      }),
      expect.objectContaining({
        path: `/v2/nope/blobs/sha256:${"0".repeat(64)}`,
        route: "v2_blob",
        status: 404,
      }),
    ]);
    for (const r of requests) {
      expect(typeof r.ms).toBe("number");
      expect(r.bytes).toBeGreaterThan(0);
    }
  });

  it("answers /readyz 503 until metadata is loaded, /healthz always", async () => {
    const config = await loadServerConfig(app.repo.configPath, {});
    const plain = await listen(createRegistryApp({ config, snapshot: emptySnapshot }));
    try {
      expect((await fetch(`${plain.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${plain.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    } finally {
      await plain.close();
    }
  });
});

/**
 * `handler` on a loopback port. `endedOnReturn` maps each request ("METHOD path") to whether its
 * response had ended when the handler returned (answered with no promise and no microtask).
 */
async function listen(handler: RequestHandler) {
  const endedOnReturn: Record<string, boolean> = {};
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => {
    handler(req, res);
    endedOnReturn[`${req.method ?? ""} ${req.url ?? ""}`] = res.writableEnded;
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;
  return { url, endedOnReturn, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** An observer that hands each pull to `pulled` and stores nothing. */
const observerOf = (pulled: Observer["pulled"]): Observer => ({
  pulled,
  recordWrite: undefined,
  gauges: () => [],
  close: () => Promise.resolve(),
});

describe("the hot path", () => {
  let app: RaasApp;
  beforeAll(async () => {
    app = await makeRaasApp();
  });
  afterAll(async () => {
    await app.repo.cleanup();
  });

  /** The registry over `configPath` (default the app repo's) with its metadata loaded, on a loopback port. */
  async function serveApp(
    deps: Omit<RegistryDeps, "config" | "snapshot"> = {},
    configPath = app.repo.configPath,
  ) {
    const config = await loadServerConfig(configPath, {});
    const snapshot = await loadSnapshot(config, () => undefined);
    return listen(createRegistryApp({ config, snapshot: () => snapshot, ...deps }));
  }

  /** A config of the app repo whose blobs are redirected to a public base URL; its path. */
  async function publicRedirectConf(): Promise<string> {
    const configPath = join(app.repo.root, "redirect.conf");
    await writeFile(
      configPath,
      "[general]\ndata_dir: data\ndata_dir_polling_interval: 60\n[raas]\nmanifest_dir = manifests\n" +
        "[storage]\npublic_base_url = https://cdn.example.test/bucket\n",
    );
    return configPath;
  }

  it("answers a manifest held in the snapshot before the handler returns, and waits where it must", async () => {
    const { url, endedOnReturn, close } = await serveApp();
    const accept = { Accept: MediaType.dockerManifest };
    const digest = app.acme.publication.tags["1.0"] ?? "";
    try {
      const byTag = await fetch(`${url}/v2/acme/app/manifests/1.0`, { headers: accept });
      expect(byTag.status).toBe(200);
      expect(byTag.headers.get("docker-content-digest")).toBe(digest);
      const byDigest = await fetch(`${url}/v2/acme/app/manifests/${digest}`, {
        method: "HEAD",
        headers: accept,
      });
      expect(byDigest.status).toBe(200);
      const unknown = await fetch(`${url}/v2/acme/app/manifests/nope`, { headers: accept });
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe(
        "MANIFEST_UNKNOWN",
      );
      // A blob from serve_content is read from disk: the handler returns first, then it is sent.
      const blob = app.acme.publication.blobs[0]?.digest ?? "";
      const blobRes = await fetch(`${url}/v2/acme/app/blobs/${blob}`);
      expect(blobRes.status).toBe(200);
      await blobRes.arrayBuffer();
      expect(endedOnReturn).toEqual({
        "GET /v2/acme/app/manifests/1.0": true,
        [`HEAD /v2/acme/app/manifests/${digest}`]: true,
        "GET /v2/acme/app/manifests/nope": true,
        [`GET /v2/acme/app/blobs/${blob}`]: false,
      });
    } finally {
      await close();
    }
  });

  it("counts a manifest list and a single image pulled by digest, not the list's children (as before the cached set of children)", async () => {
    const pulls: string[] = [];
    const observer = observerOf((pull) => {
      pulls.push(pull.reference);
      return undefined;
    });
    const { url, close } = await serveApp({ observer });
    const accept = { Accept: [MediaType.dockerManifest, MediaType.dockerManifestList].join(", ") };
    const list = app.acme.publication.tags.multi ?? "";
    const single = app.acme.publication.tags["1.0"] ?? "";
    try {
      const index = await fetch(`${url}/v2/acme/app/manifests/multi`, { headers: accept });
      const children = ((await index.json()) as { manifests: { digest: string }[] }).manifests.map(
        (m) => m.digest,
      );
      expect(children).toHaveLength(2);
      for (const child of [...children, ...children]) {
        expect((await fetch(`${url}/v2/acme/app/manifests/${child}`, { headers: accept })).status).toBe(200);
      }
      expect((await fetch(`${url}/v2/acme/app/manifests/${list}`, { headers: accept })).status).toBe(200);
      expect((await fetch(`${url}/v2/acme/app/manifests/${single}`, { headers: accept })).status).toBe(200);
      expect(pulls).toEqual(["multi", list, single]);
    } finally {
      await close();
    }
  });

  it("answers a pull only once its event is stored, when events are stored per request", async () => {
    let store: () => void = () => undefined;
    const stored = new Promise<void>((resolve) => (store = resolve));
    const { url, endedOnReturn, close } = await serveApp({ observer: observerOf(() => stored) });
    try {
      let answered = false;
      const response = fetch(`${url}/v2/acme/app/manifests/1.0`, {
        headers: { Accept: MediaType.dockerManifest },
      }).then((res) => {
        answered = true;
        return res;
      });
      await new Promise((r) => setTimeout(r, 200));
      expect(answered).toBe(false);
      expect(endedOnReturn).toEqual({ "GET /v2/acme/app/manifests/1.0": false });
      store();
      const res = await response;
      expect(res.status).toBe(200);
      expect(res.headers.get("docker-content-digest")).toBe(app.acme.publication.tags["1.0"]);
    } finally {
      await close();
    }
  });

  it("redirects a blob to its public URL before the handler returns", async () => {
    const configPath = await publicRedirectConf();
    const { url, endedOnReturn, close } = await serveApp({}, configPath);
    const blob = app.acme.publication.blobs[0]?.digest ?? "";
    const missing = `sha256:${"0".repeat(64)}`;
    try {
      for (const method of ["GET", "HEAD"]) {
        const res = await fetch(`${url}/v2/acme/app/blobs/${blob}`, { method, redirect: "manual" });
        expect(res.status).toBe(307);
        expect(res.headers.get("location")).toBe(`https://cdn.example.test/bucket/acme-app/blobs/${blob}`);
        expect(res.headers.get("docker-content-digest")).toBe(blob);
      }
      const unknown = await fetch(`${url}/v2/acme/app/blobs/${missing}`, { redirect: "manual" });
      expect(unknown.status).toBe(404);
      expect(endedOnReturn).toEqual({
        [`GET /v2/acme/app/blobs/${blob}`]: true,
        [`HEAD /v2/acme/app/blobs/${blob}`]: true,
        [`GET /v2/acme/app/blobs/${missing}`]: true,
      });
    } finally {
      await close();
    }
  });

  it("never sends a kept blob redirect once the repository is no longer public", async () => {
    const configPath = await publicRedirectConf();
    let isPublic = true;
    const access = { ...OPEN_ACCESS, isPublic: () => isPublic, privateTtl: 60 };
    // Stand-in for presigning (no S3 here): a private key gets a promise, as the real builder's does.
    const storageUrl: StorageUrlFn = (key, _method, _repoUrl, ttl) =>
      ttl === undefined
        ? `https://cdn.example.test/bucket/${key}`
        : Promise.resolve(`https://signed.example.test/${key}?ttl=${ttl}`);
    const { url, close } = await serveApp({ access, storageUrl }, configPath);
    const blob = app.acme.publication.blobs[0]?.digest ?? "";
    const location = async () =>
      (await fetch(`${url}/v2/acme/app/blobs/${blob}`, { redirect: "manual" })).headers.get("location");
    try {
      expect(await location()).toBe(`https://cdn.example.test/bucket/acme-app/blobs/${blob}`);
      expect(await location()).toBe(`https://cdn.example.test/bucket/acme-app/blobs/${blob}`);
      isPublic = false;
      expect(await location()).toBe(`https://signed.example.test/acme-app/blobs/${blob}?ttl=60`);
      isPublic = true;
      expect(await location()).toBe(`https://cdn.example.test/bucket/acme-app/blobs/${blob}`);
    } finally {
      await close();
    }
  });

  it("checks access before the lookup when access is not off: a refused caller learns nothing of what exists", async () => {
    const checked: string[] = [];
    const refusing = {
      ...OPEN_ACCESS,
      mode: "external" as const,
      authorizeRequest: (_req: unknown, name: string) => {
        checked.push(name);
        return Promise.reject(new RegistryError(401, "UNAUTHORIZED", "authentication required"));
      },
    };
    const { url, endedOnReturn, close } = await serveApp({ access: refusing });
    const accept = { Accept: MediaType.dockerManifest };
    try {
      const known = await fetch(`${url}/v2/acme/app/manifests/1.0`, { headers: accept });
      const unknown = await fetch(`${url}/v2/nobody/here/manifests/1.0`, { headers: accept });
      expect([known.status, unknown.status]).toEqual([401, 401]);
      expect(((await unknown.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe("UNAUTHORIZED");
      expect(checked).toEqual(["acme/app", "nobody/here"]);
      expect(endedOnReturn).toEqual({
        "GET /v2/acme/app/manifests/1.0": false,
        "GET /v2/nobody/here/manifests/1.0": false,
      });
    } finally {
      await close();
    }
  });
});

describe("statelessness", () => {
  let app: RaasApp;
  let a: RunningRegistry;
  let b: RunningRegistry;
  beforeAll(async () => {
    app = await makeRaasApp();
    [a, b] = await Promise.all([serve(app), serve(app)]);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    await app.repo.cleanup();
  });

  it("gives identical answers from two replicas of one app repo", async () => {
    const list = app.acme.publication.tags.multi ?? "";
    const blob = app.acme.publication.blobs[0]?.digest ?? "";
    const cases: [string, string, Record<string, string>][] = [
      ["GET", "/v2/", {}],
      ["GET", "/v2/_catalog?n=1", {}],
      ["GET", "/v2/_catalog?n=1&last=acme/app", {}],
      ["GET", "/v2/acme/app/tags/list", {}],
      ["GET", "/v2/acme/app/manifests/latest", { Accept: MediaType.dockerManifest }],
      ["GET", "/v2/acme/app/manifests/multi", { Accept: MediaType.dockerManifestList }],
      ["GET", "/v2/acme/app/manifests/multi", { Accept: MediaType.dockerManifest }],
      ["HEAD", `/v2/acme/app/manifests/${list}`, { Accept: "*/*" }],
      ["GET", `/v2/acme/app/blobs/${blob}`, { Range: "bytes=2-9" }],
      ["GET", `/v2/other/secret/blobs/${blob}`, {}],
      ["GET", "/v2/acme/app/manifests/nope", {}],
      ["GET", "/v1/search?q=acme", {}],
      ["DELETE", "/v2/acme/app/manifests/latest", {}],
    ];
    for (const [method, path, headers] of cases) {
      const [ra, rb] = await Promise.all([
        rawRequest(a.url, method, path, headers),
        rawRequest(b.url, method, path, headers),
      ]);
      const comparable = (r: typeof ra) => {
        const { date: _date, ...rest } = r.headers;
        return { status: r.status, headers: rest, body: r.body.toString("base64") };
      };
      expect(comparable(rb), `${method} ${path}`).toEqual(comparable(ra));
    }
  });
});

async function haveOpenssl(): Promise<boolean> {
  return run("openssl", ["version"]).then(
    () => true,
    () => false,
  );
}

describe.runIf(await haveOpenssl())("TLS (certificate generated with the openssl CLI at test time)", () => {
  let app: RaasApp;
  let server: RunningRegistry;
  let cert: string;
  beforeAll(async () => {
    app = await makeRaasApp();
    ({ cert } = await selfSignedCert(app.repo.root));
    await writeFile(
      app.repo.configPath,
      `${await readFile(app.repo.configPath, "utf8")}tls_cert = tls.crt\ntls_key = tls.key\n`,
    );
    server = await serve(app);
  });
  afterAll(async () => {
    await server?.close();
    await app.repo.cleanup();
  });

  it("serves HTTPS with the configured certificate", async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(`${server.url}/v2/acme/app/tags/list`, { ca: cert }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve(text));
      });
      req.on("error", reject);
      req.end();
    });
    expect(JSON.parse(body)).toEqual({ name: "acme/app", tags: ["1.0", "latest", "multi"] });
  });

  it("refuses a config with only one of tls_cert and tls_key", async () => {
    const conf = join(app.repo.root, "half.conf");
    await writeFile(conf, "[raas]\ntls_cert = tls.crt\n");
    await expect(startRegistryServer({ configPath: conf, port: 0 })).rejects.toThrow(
      "[raas] tls_cert and tls_key must be set together",
    );
  });
});
