/**
 * 10,000 random and hostile requests against a real server holding both raas and plain Crane
 * metadata: traversal in names, bad digests, huge and negative `n`, odd methods, long headers,
 * and raw malformed request lines over a socket. No answer may be a 5xx, the server must keep
 * answering correctly afterwards, and the whole run is bounded in time. Seeded, so a failure
 * names a reproducible request.
 */
import { request, Agent } from "node:http";
import { connect } from "node:net";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METADATA_GOOD } from "../../src/crane/testing/crane-fixtures.js";
import type { RunningRegistry } from "../../src/server/start.js";
import { makeRaasApp, serve, type RaasApp } from "./raas-app.js";

const TOTAL = 10_000;
const RAW = 300; // of which sent as raw bytes over a socket
const CONCURRENCY = 32;

/** mulberry32: small, seeded, good enough to pick test inputs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DIGEST = `sha256:${"a".repeat(64)}`;
const NAMES = ["acme/app", "other/secret", "redhat/foo", "redhat/zoo", "registry", "bar", "nope", ""];
const HOSTILE = [
  "..",
  "%2e%2e",
  "%2E%2E%2F",
  "..%2f..%2fetc%2fpasswd",
  "%00",
  "a%2Fb",
  "%ff%fe",
  "%",
  "%zz",
  "A".repeat(300),
  "x".repeat(3000),
  "_catalog",
  "manifests",
  "blobs",
  "tags",
  "library",
  "~root",
  "a..b",
  "a__b",
  "a---b",
  "\u00e9",
  "%e2%80%ae",
  "sha256:",
  `sha256:${"A".repeat(64)}`,
  `sha512:${"a".repeat(128)}`,
  `${DIGEST}x`,
  "latest",
  "1.0",
  "multi",
  "list",
  "-tag",
  ".tag",
];
const METHODS = [
  "GET",
  "GET",
  "GET",
  "HEAD",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
  "TRACE",
  "PROPFIND",
  "M-SEARCH",
];
const QUERIES = [
  "",
  "?n=1",
  "?n=0",
  "?n=-1",
  "?n=1e9",
  "?n=99999999999999999999",
  "?n=abc",
  "?last=zzz",
  "?last=%00",
  "?n=2&last=acme/app",
  "?q=",
  "?q=a",
  `?q=${"x".repeat(2000)}`,
  "?n=1&n=2",
  "?%%%",
];

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

function randomPath(rand: () => number, known: { tags: string[]; digests: string[] }): string {
  const segment = () =>
    rand() < 0.5
      ? pick(rand, HOSTILE)
      : encodeURIComponent(
          String.fromCharCode(
            ...Array.from({ length: 1 + Math.floor(rand() * 12) }, () => 32 + Math.floor(rand() * 95)),
          ),
        );
  const name =
    rand() < 0.7 ? pick(rand, NAMES) : Array.from({ length: 1 + Math.floor(rand() * 4) }, segment).join("/");
  const ref = rand() < 0.4 ? pick(rand, [...known.tags, ...known.digests, DIGEST]) : segment();
  const shapes = [
    () => `/v2/${name}/manifests/${ref}`,
    () => `/v2/${name}/blobs/${ref}`,
    () => `/v2/acme/app/blobs/${pick(rand, known.digests)}`,
    () => `/v2/${name}/tags/list`,
    () => `/v2/${name}/tags/${ref}`,
    () => `/v2/_catalog`,
    () => `/v2/${name}/manifests/${ref}/${segment()}`,
    () => `/v1/repositories/${name}/${pick(rand, ["images", "tags", `tags/${ref}`])}`,
    () => `/v1/images/${segment()}/${pick(rand, ["ancestry", "json", "layer", segment()])}`,
    () => `/v1/search`,
    () => `/crane/repositories/${pick(rand, ["", "v1", "v2", segment()])}`,
    () => `/${segment()}/${segment()}`,
    () => `/v2/${"a/".repeat(Math.floor(rand() * 200))}manifests/latest`,
    () => "/v2",
    () => "/metrics",
    () => "/readyz",
  ];
  return pick(rand, shapes)() + pick(rand, QUERIES);
}

function randomHeaders(rand: () => number): Record<string, string> {
  const headers: Record<string, string> = {};
  const r = rand();
  if (r < 0.2) {
    headers.Accept = pick(rand, [
      "*/*",
      "application/vnd.oci.image.index.v1+json",
      "application/vnd.docker.distribution.manifest.v2+json",
      ",,,;;;",
      "a".repeat(4000),
    ]);
  } else if (r < 0.3) {
    headers.Range = pick(rand, [
      "bytes=0-0",
      "bytes=-5",
      "bytes=5-",
      "bytes=9-1",
      "bytes=0-1,2-3",
      "bytes=99999999999999999999-",
      "junk",
    ]);
  } else if (r < 0.35) headers["If-None-Match"] = pick(rand, [`"${DIGEST}"`, "*", "x".repeat(1000)]);
  else if (r < 0.4) headers["X-Long"] = "x".repeat(Math.floor(rand() * 20_000)); // past node's 16 KiB limit sometimes
  return headers;
}

type Outcome = { status: number; method: string; path: string };

function send(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<Outcome> {
  return new Promise((resolve) => {
    let req;
    try {
      req = request({ host: "127.0.0.1", port, method, path, headers, agent }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, method, path }));
        res.on("error", () => resolve({ status: -1, method, path }));
      });
    } catch {
      // The client refused to send it (an unescaped character): nothing reached the server.
      resolve({ status: 0, method, path });
      return;
    }
    req.on("error", () => resolve({ status: -1, method, path }));
    req.end();
  });
}

/** Bytes no well-behaved client would send: the server must answer 4xx or close, never 5xx or crash. */
function sendRaw(port: number, bytes: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    socket.setTimeout(5000, () => socket.destroy());
    socket.on("data", (c: Buffer) => (text += c.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () =>
      resolve({
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0),
        method: "RAW",
        path: JSON.stringify(bytes.slice(0, 80)),
      }),
    );
    socket.end(bytes);
  });
}

function rawRequests(rand: () => number): string[] {
  const lines = [
    "GET /v2/../../etc/passwd HTTP/1.1",
    "GET /v2/acme/app/manifests/latest\u0000 HTTP/1.1",
    "GET /v2/acme/app/manifests/lat est HTTP/1.1",
    "GET http://evil.example/v2/ HTTP/1.1",
    "GET * HTTP/1.1",
    "GET v2/ HTTP/1.1",
    "BREW /v2/ HTTP/1.1",
    `${"G".repeat(5000)} /v2/ HTTP/1.1`,
    "GET /v2/ HTTP/9.9",
    "GET /v2/\r\nX-Injected: 1 HTTP/1.1",
    "\u00ff\u00fe / HTTP/1.1",
  ];
  return Array.from({ length: RAW }, () => {
    const line = pick(rand, lines);
    const extra = rand() < 0.3 ? `X-Big: ${"y".repeat(Math.floor(rand() * 40_000))}\r\n` : "";
    const body = rand() < 0.2 ? "Content-Length: 5\r\n\r\nhello" : "\r\n";
    return `${line}\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n${body}`;
  });
}

describe("fuzz (10,000 requests)", () => {
  let app: RaasApp;
  let server: RunningRegistry;
  beforeAll(async () => {
    app = await makeRaasApp();
    for (const [name, content] of Object.entries(METADATA_GOOD)) {
      await writeFile(join(app.repo.dataDir, `crane-${name}`), JSON.stringify(content));
    }
    server = await serve(app);
  });
  afterAll(async () => {
    await server.close();
    await app.repo.cleanup();
  });

  it("never answers 5xx, never crashes, and stays correct", async () => {
    const rand = prng(0x5eed4);
    const port = Number(new URL(server.url).port);
    const known = {
      tags: Object.keys(app.acme.publication.tags),
      digests: [...app.acme.manifestBytes.keys(), ...app.acme.blobBytes.keys()],
    };
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const started = Date.now();
    const outcomes: Outcome[] = [];
    const raw = rawRequests(rand);
    let next = 0;
    const worker = async () => {
      while (next < TOTAL) {
        const i = next++;
        if (i < RAW) {
          outcomes.push(await sendRaw(port, raw[i] ?? ""));
        } else {
          outcomes.push(
            await send(agent, port, pick(rand, METHODS), randomPath(rand, known), randomHeaders(rand)),
          );
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    agent.destroy();
    const seconds = (Date.now() - started) / 1000;

    expect(outcomes).toHaveLength(TOTAL);
    const serverErrors = outcomes.filter((o) => o.status >= 500);
    expect(serverErrors.slice(0, 5)).toEqual([]);
    const answered = outcomes.filter((o) => o.status >= 200).length;
    // Nearly everything got an HTTP answer (the rest: client-side refusals and closed raw sockets).
    expect(answered).toBeGreaterThan(TOTAL * 0.9);
    expect(seconds).toBeLessThan(60);
    // The run reached real routes, not only the 404 fallback.
    const statuses = new Set(outcomes.map((o) => o.status));
    for (const status of [200, 206, 302, 400, 404, 405, 431]) {
      expect(statuses, `status ${status}`).toContain(status);
    }

    const res = await fetch(`${server.url}/v2/acme/app/manifests/latest`, { headers: { Accept: "*/*" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-content-digest")).toBe(app.acme.publication.tags.latest);
  });
});
