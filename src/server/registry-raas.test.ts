import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyPublication } from "../crane/publication.js";
import { serializeMetadata } from "../crane/serialize.js";
import { sha256Digest } from "../image/digest.js";
import { MediaType } from "../image/media-types.js";
import { startRegistryServer, type LogRecord, type RunningRegistry } from "./start.js";
import {
  buildImages,
  makeAppRepo,
  publish,
  rawRequest,
  type AppRepo,
  type BuiltImage,
} from "./testing/fixture.js";

let repo: AppRepo;
let server: RunningRegistry;
let acme: BuiltImage;
let other: BuiltImage;
const logs: LogRecord[] = [];

beforeAll(async () => {
  repo = await makeAppRepo(
    (p) => `[general]
debug: false
data_dir: data
data_dir_polling_interval: 0.1
[serve_content]
enable: true
content_dir_v1: ${p.contentV1}
content_dir_v2: content/v2
use_x_sendfile: false
[raas]
manifest_dir = manifests
`,
  );
  acme = buildImages("acme/app", "acme-app", "acme");
  other = buildImages("other/secret", "other-secret", "other");
  await publish(repo, "acme-acme-app.json", acme);
  await publish(repo, "other-other-secret.json", other);
  server = await startRegistryServer({
    configPath: repo.configPath,
    host: "127.0.0.1",
    port: 0,
    log: (r) => logs.push(r),
  });
});

afterAll(async () => {
  await server.close();
  await repo.cleanup();
});

const get = (path: string, init: RequestInit = {}) =>
  fetch(server.url + path, { redirect: "manual", ...init });
const tag = (t: string) => acme.publication.tags[t] as string;

describe("raas registry (x-raas metadata, serve_content)", () => {
  it("answers /v2/ and /v1/_ping like Crane", async () => {
    const v2 = await get("/v2/");
    expect(v2.status).toBe(200);
    expect(v2.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
    expect(await v2.json()).toEqual({});
    const ping = await get("/v1/_ping");
    expect(await ping.text()).toBe("true");
    expect(ping.headers.get("x-docker-registry-standalone")).toBe("True");
    expect(ping.headers.get("x-docker-registry-version")).toBe("0.6.6");
    expect((await get("/v2")).status).toBe(302);
  });

  it("serves exact manifest bytes by tag and digest, GET and HEAD", async () => {
    const digest = tag("latest");
    const bytes = acme.manifestBytes.get(digest as never) as Buffer;
    for (const ref of ["latest", digest]) {
      const res = await get(`/v2/acme/app/manifests/${ref}`, {
        headers: { Accept: MediaType.dockerManifest },
      });
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
      expect(res.headers.get("content-type")).toBe(MediaType.dockerManifest);
      expect(res.headers.get("docker-content-digest")).toBe(digest);
      expect(res.headers.get("etag")).toBe(`"${digest}"`);
      expect(res.headers.get("content-length")).toBe(String(bytes.length));
    }
    const head = await get("/v2/acme/app/manifests/latest", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes.length));
    expect(head.headers.get("docker-content-digest")).toBe(digest);
    expect(await head.text()).toBe("");
    const cached = await get("/v2/acme/app/manifests/latest", {
      headers: { "If-None-Match": `"${digest}"` },
    });
    expect(cached.status).toBe(304);
  });

  it("serves a list to list-aware clients and the amd64 image to the others", async () => {
    const list = await get("/v2/acme/app/manifests/multi", {
      headers: { Accept: `${MediaType.dockerManifest}, ${MediaType.dockerManifestList}` },
    });
    expect(list.headers.get("content-type")).toBe(MediaType.dockerManifestList);
    expect(list.headers.get("docker-content-digest")).toBe(tag("multi"));
    const old = await get("/v2/acme/app/manifests/multi", { headers: { Accept: MediaType.dockerManifest } });
    const amd = acme.publication.manifests.find((m) => m.platform?.architecture === "amd64");
    expect(old.status).toBe(200);
    expect(old.headers.get("docker-content-digest")).toBe(amd?.digest);
    expect(sha256Digest(Buffer.from(await old.arrayBuffer()))).toBe(amd?.digest);
  });

  it.each([
    ["/v2/acme/app/manifests/nope", 404, "MANIFEST_UNKNOWN"],
    [`/v2/acme/app/manifests/sha256:${"0".repeat(64)}`, 404, "MANIFEST_UNKNOWN"],
    ["/v2/acme/app/manifests/sha256:baddigeststring", 400, "DIGEST_INVALID"],
    ["/v2/acme/nope/manifests/latest", 404, "NAME_UNKNOWN"],
    ["/v2/Acme/App/manifests/latest", 400, "NAME_INVALID"],
    ["/v2/acme/app/manifests/a/b", 404, "NOT_FOUND"],
    ["/v2/acme/app/blobs/123", 400, "DIGEST_INVALID"],
    ["/v2/acme/app/tags/latest", 404, "NOT_FOUND"],
    ["/v2/no/name/test", 404, "NOT_FOUND"],
  ])("answers %s with %i %s", async (path, status, code) => {
    const res = await get(path);
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toBe("application/json");
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe(code);
    expect(typeof body.errors[0]?.message).toBe("string");
  });

  it("renders every error kind with exactly the bytes and headers it had before errors were thrown", async () => {
    const exact = async (path: string) => {
      const res = await rawRequest(server.url, "GET", path);
      const { date: _date, ...headers } = res.headers;
      return { status: res.status, headers, body: res.body.toString() };
    };
    const json = (body: string) => ({
      "content-type": "application/json",
      "docker-distribution-api-version": "registry/2.0",
      "content-length": String(Buffer.byteLength(body)),
      connection: "close",
    });
    const cases: [string, number, string][] = [
      [
        "/v2/acme/nope/manifests/latest",
        404,
        '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"acme/nope"}}]}',
      ],
      [
        "/v2/acme/app/manifests/nope",
        404,
        '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"name":"acme/app","reference":"nope"}}]}',
      ],
      [
        "/v2/acme/app/blobs/123",
        400,
        '{"errors":[{"code":"DIGEST_INVALID","message":"invalid digest","detail":{"digest":"123"}}]}',
      ],
      ["/v2/acme/app/tags/latest", 404, '{"errors":[{"code":"NOT_FOUND","message":"no such route"}]}'],
      [
        "/v2/_catalog?n=x",
        400,
        '{"errors":[{"code":"PAGINATION_NUMBER_INVALID","message":"n must be a non-negative integer","detail":{"n":"x"}}]}',
      ],
      [
        `/v2/acme/app/blobs/sha256:${"0".repeat(64)}`,
        404,
        `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":{"digest":"sha256:${"0".repeat(64)}"}}]}`,
      ],
    ];
    for (const [path, status, body] of cases) {
      expect(await exact(path)).toEqual({ status, headers: json(body), body });
    }
  });

  it("streams blobs with Range support", async () => {
    const [digest, bytes] = [...acme.blobBytes.entries()].sort((a, b) => b[1].length - a[1].length)[0] ?? [];
    expect(bytes?.length).toBeGreaterThan(1000);
    const full = await get(`/v2/acme/app/blobs/${digest}`);
    expect(full.status).toBe(200);
    expect(full.headers.get("content-type")).toBe("application/octet-stream");
    expect(full.headers.get("docker-content-digest")).toBe(digest);
    expect(Buffer.from(await full.arrayBuffer())).toEqual(bytes);
    const size = bytes?.length ?? 0;
    const cases: [string, number, number][] = [
      ["bytes=500-999", 500, 999],
      ["bytes=500-", 500, size - 1],
      ["bytes=-500", size - 500, size - 1],
    ];
    for (const [range, start, end] of cases) {
      const part = await get(`/v2/acme/app/blobs/${digest}`, { headers: { Range: range } });
      expect(part.status).toBe(206);
      expect(part.headers.get("content-range")).toBe(`bytes ${start}-${end}/${size}`);
      expect(Buffer.from(await part.arrayBuffer())).toEqual(bytes?.subarray(start, end + 1));
    }
    const bad = await get(`/v2/acme/app/blobs/${digest}`, { headers: { Range: `bytes=${size}-` } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get("content-range")).toBe(`bytes */${size}`);
    const head = await get(`/v2/acme/app/blobs/${digest}`, { method: "HEAD" });
    expect(head.headers.get("content-length")).toBe(String(size));
  });

  it("never serves another repository's blob", async () => {
    const otherBlob = [...other.blobBytes.keys()].find((d) => !acme.blobBytes.has(d));
    const res = await get(`/v2/acme/app/blobs/${otherBlob}`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe("BLOB_UNKNOWN");
    expect((await get(`/v2/other/secret/blobs/${otherBlob}`)).status).toBe(200);
  });

  it.each([
    "/v2/../../etc/passwd/blobs/..",
    "/v2/acme/app/blobs/..%2f..%2f..%2fetc%2fpasswd",
    "/v2/%2e%2e/%2e%2e/etc/blobs/sha256:0",
    "/v2/acme/app/manifests/..%2f..%2fregistry.conf",
    "/v2/acme%2fapp/manifests/latest",
    "/v2/acme/app/blobs/%ZZ",
    "/v1/images/..%2f..%2fregistry.conf/json",
    "/v1/repositories/../../etc/tags",
  ])("refuses the traversal attempt %s", async (path) => {
    const res = await rawRequest(server.url, "GET", path);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.toString()).not.toMatch(/root:|\[general\]/);
  });

  it("lists tags and the catalog with capped n/last pagination", async () => {
    const all = await get("/v2/acme/app/tags/list");
    expect(await all.json()).toEqual({ name: "acme/app", tags: ["1.0", "latest", "multi"] });
    const page = await get("/v2/acme/app/tags/list?n=1&last=1.0");
    expect(await page.json()).toEqual({ name: "acme/app", tags: ["latest"] });
    expect(page.headers.get("link")).toBe('</v2/acme/app/tags/list?n=1&last=latest>; rel="next"');
    expect((await get("/v2/acme/app/tags/list?n=-1")).status).toBe(400);
    expect(await (await get("/v2/_catalog?n=99999999")).json()).toEqual({
      repositories: ["acme/app", "other/secret"],
    });
  });

  it("answers 405 with Allow for other methods, and health checks", async () => {
    const res = await get("/v2/acme/app/manifests/latest", { method: "DELETE" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD");
    expect((await get("/healthz")).status).toBe(200);
    expect((await get("/readyz")).status).toBe(200);
  });

  it("reloads on add, in-place edit and delete", async () => {
    const extra = buildImages("acme/extra", "acme-extra", "extra");
    await publish(repo, "acme-acme-extra.json", extra);
    await server.reload();
    expect((await get("/v2/acme/extra/manifests/latest")).status).toBe(200);

    // In-place edit that moves `latest`: Crane would not notice; the poller must.
    const file = join(repo.dataDir, "acme-acme-extra.json");
    const moved = { ...extra.publication, tags: { latest: extra.publication.tags.multi as never } };
    await writeFile(file, serializeMetadata(applyPublication(undefined, moved, new Date())));
    await expect
      .poll(
        async () =>
          (await get("/v2/acme/extra/manifests/latest", { method: "HEAD" })).headers.get(
            "docker-content-digest",
          ),
        {
          timeout: 5000,
        },
      )
      .not.toBe(extra.publication.tags.latest);
    expect(await (await get("/v2/acme/extra/tags/list")).json()).toEqual({
      name: "acme/extra",
      tags: ["latest"],
    });

    await rm(file);
    await expect
      .poll(async () => (await get("/v2/acme/extra/manifests/latest")).status, { timeout: 5000 })
      .toBe(404);
    expect(logs.some((r) => r.event === "request" && r.status === 200)).toBe(true);
  });

  it("skips a broken file with a log line and keeps serving the others", async () => {
    await writeFile(join(repo.dataDir, "broken.json"), "{");
    await server.reload();
    expect(
      logs.some((r) => typeof r.message === "string" && r.message.startsWith("skipping broken.json: ")),
    ).toBe(true);
    expect((await get("/v2/acme/app/manifests/latest")).status).toBe(200);
    await rm(join(repo.dataDir, "broken.json"));
  });

  it("a reload asked for while a poll reloads sees what was written before it was asked for", async () => {
    // The 0.1 s poll is often mid-reload when a file lands; the asked-for reload must not settle
    // for the poll's older read (a push's read-your-writes and SIGHUP rely on it).
    // Many files make each reload long enough for the race to show on any machine.
    for (let i = 0; i < 1200; i++) await writeFile(join(repo.dataDir, `filler-${i}.json`), "{");
    await server.reload();
    const missed: number[] = [];
    for (let i = 0; i < 15; i++) {
      await writeFile(join(repo.dataDir, `broken-${i}.json`), "{");
      await server.reload();
      const seen = logs.some(
        (r) => typeof r.message === "string" && r.message.startsWith(`skipping broken-${i}.json: `),
      );
      if (!seen) missed.push(i);
      await new Promise((r) => setTimeout(r, i % 7));
    }
    for (let i = 0; i < 15; i++) await rm(join(repo.dataDir, `broken-${i}.json`));
    for (let i = 0; i < 1200; i++) await rm(join(repo.dataDir, `filler-${i}.json`));
    await server.reload();
    expect(missed).toEqual([]);
  }, 120_000);

  it("survives a burst of random requests without a 5xx", async () => {
    const parts = [
      "v2",
      "v1",
      "acme",
      "app",
      "manifests",
      "blobs",
      "tags",
      "list",
      "..",
      "%2e%2e",
      "%00",
      "latest",
      tag("latest"),
      "sha256:",
      "_catalog",
      "images",
      "repositories",
      "library",
      "x".repeat(300),
      "%ZZ",
      "",
      "json",
    ];
    const methods = ["GET", "HEAD", "GET", "POST", "OPTIONS"];
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const deadline = Date.now() + 15_000;
    let count = 0;
    while (count < 2000 && Date.now() < deadline) {
      const batch = Array.from({ length: 20 }, () => {
        const path = "/" + Array.from({ length: 1 + rand(6) }, () => parts[rand(parts.length)]).join("/");
        const headers: Record<string, string> =
          rand(2) === 0 ? { Range: `bytes=${rand(3000)}-${rand(3000)}` } : {};
        if (rand(3) === 0) headers.Accept = MediaType.dockerManifestList;
        return rawRequest(server.url, methods[rand(methods.length)] ?? "GET", path, headers);
      });
      for (const res of await Promise.all(batch)) expect(res.status).toBeLessThan(500);
      count += batch.length;
    }
    expect(count).toBeGreaterThan(500);
    expect((await get("/healthz")).status).toBe(200);
  }, 30_000);
});
