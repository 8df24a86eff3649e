import { rm } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlobRecord } from "../crane/types.js";
import { prepareRedirect } from "./http.js";
import { BLOB_REDIRECT_BODY_MAX, BLOB_REDIRECTS_MAX, emptySnapshot, keepBlobRedirect } from "./snapshot.js";
import { startRegistryServer, type RunningRegistry } from "./start.js";
import { buildImages, makeAppRepo, publish, type AppRepo, type BuiltImage } from "./testing/fixture.js";

let repo: AppRepo;
let server: RunningRegistry;
let acme: BuiltImage;
const MASKED = `sha256:${"e".repeat(64)}`;

beforeAll(async () => {
  repo = await makeAppRepo(
    () => "[general]\ndata_dir: data\n[storage]\npublic_base_url: https://cdn.example.com/bucket\n",
  );
  acme = buildImages("acme/app", "acme-app", "acme");
  const single = acme.publication.manifests[0];
  if (single === undefined) throw new Error("fixture has no manifest");
  single.refs.push(MASKED as never);
  acme.publication.blobs.push({
    digest: MASKED as never,
    size: 3,
    url: "https://vendor.example.com/v2/base/blobs/x",
  });
  await publish(repo, "acme-acme-app.json", acme);
  // Bytes of the list are not in the app repo: the server must send the client to storage.
  await rm(join(repo.manifestDir, "acme-app", acme.publication.tags.multi as string));
  server = await startRegistryServer({ configPath: repo.configPath, host: "127.0.0.1", port: 0 });
});

afterAll(async () => {
  await server.close();
  await repo.cleanup();
});

const get = (path: string, init: RequestInit = {}) =>
  fetch(server.url + path, { redirect: "manual", ...init });

describe("raas registry, public redirect mode", () => {
  it("redirects a listed blob to the public base URL, and a masked blob to its vendor URL", async () => {
    const [digest] = [...acme.blobBytes.keys()];
    const res = await get(`/v2/acme/app/blobs/${digest}`);
    expect(res.status).toBe(307);
    expect(res.headers.get("location")).toBe(`https://cdn.example.com/bucket/acme-app/blobs/${digest}`);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    const masked = await get(`/v2/acme/app/blobs/${MASKED}`, { method: "HEAD" });
    expect([masked.status, masked.headers.get("location")]).toEqual([
      307,
      "https://vendor.example.com/v2/base/blobs/x",
    ]);
    expect((await get(`/v2/acme/app/blobs/sha256:${"9".repeat(64)}`)).status).toBe(404);
  });

  it("serves manifests from memory and redirects to storage when the bytes are not in the app repo", async () => {
    expect((await get("/v2/acme/app/manifests/latest")).status).toBe(200);
    const list = acme.publication.tags.multi as string;
    const res = await get("/v2/acme/app/manifests/multi", {
      headers: { Accept: "application/vnd.docker.distribution.manifest.list.v2+json" },
    });
    expect(res.status).toBe(307);
    expect(res.headers.get("location")).toBe(
      `https://cdn.example.com/bucket/acme-app/manifests/list/${list}`,
    );
    expect(res.headers.get("docker-content-digest")).toBe(list);
  });

  it("sends every request of a snapshot the same blob redirect, GET and HEAD, and a reload's own after it", async () => {
    const [digest] = [...acme.blobBytes.keys()];
    const location = `https://cdn.example.com/bucket/acme-app/blobs/${digest}`;
    const first = await answer(await get(`/v2/acme/app/blobs/${digest}`));
    // Crane's (Werkzeug's) redirect, byte for byte.
    expect(first.body).toBe(craneRedirectBody(location));
    expect(first).toEqual({
      status: 307,
      headers: {
        "content-length": String(Buffer.byteLength(first.body)),
        "content-type": "text/html; charset=utf-8",
        "docker-content-digest": digest,
        "docker-distribution-api-version": "registry/2.0",
        location,
      },
      body: first.body,
    });
    for (let i = 0; i < 3; i++) {
      expect(await answer(await get(`/v2/acme/app/blobs/${digest}`))).toEqual(first);
    }
    const head = await answer(await get(`/v2/acme/app/blobs/${digest}`, { method: "HEAD" }));
    expect(head).toEqual({ ...first, body: "" });

    // The masked blob moves at its vendor: the metadata says so, and after the reload so does the redirect.
    const masked = () => get(`/v2/acme/app/blobs/${MASKED}`).then((res) => res.headers.get("location"));
    expect(await masked()).toBe("https://vendor.example.com/v2/base/blobs/x");
    const record = acme.publication.blobs.find((b) => b.digest === MASKED);
    if (record === undefined) throw new Error("fixture has no masked blob");
    record.url = "https://vendor.example.com/v2/base/blobs/moved";
    await publish(repo, "acme-acme-app.json", acme);
    await rm(join(repo.manifestDir, "acme-app", acme.publication.tags.multi as string));
    expect(await masked()).toBe("https://vendor.example.com/v2/base/blobs/x");
    await server.reload();
    expect(await masked()).toBe("https://vendor.example.com/v2/base/blobs/moved");
    expect(await answer(await get(`/v2/acme/app/blobs/${digest}`))).toEqual(first);
  });

  it("puts the same bytes on the wire for a kept redirect as for the one first made", async () => {
    const [digest] = [...acme.blobBytes.keys()];
    const location = `https://cdn.example.com/bucket/acme-app/blobs/${digest}`;
    const body = craneRedirectBody(location);
    const expected = [
      "HTTP/1.1 307 Temporary Redirect",
      "Docker-Distribution-API-Version: registry/2.0",
      `Docker-Content-Digest: ${digest}`,
      `Location: ${location}`,
      "Content-Type: text/html; charset=utf-8",
      `Content-Length: ${Buffer.byteLength(body)}`,
      "Date: <date>",
      "Connection: close",
      "",
      body,
    ].join("\r\n");
    await server.reload(); // a new snapshot: nothing kept yet
    for (let i = 0; i < 3; i++) {
      const raw = await rawGet(server.url, `/v2/acme/app/blobs/${digest}`);
      expect(raw.replace(/^Date: .*$/m, "Date: <date>")).toBe(expected);
    }
  });
});

/** The whole response to a GET sent over a socket of its own, as bytes on the wire (latin1). */
function rawGet(base: string, path: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
    });
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
    socket.on("error", reject);
  });
}

/** Crane's (Werkzeug's) redirect body for `location`, written out here rather than taken from the code under test. */
const craneRedirectBody = (location: string) =>
  `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n<p>You should be redirected automatically to target URL: <a href="${location}">${location}</a>.  If not click the link.`;

/** Status, headers (but the per-connection ones) and body of a response. */
async function answer(res: Response) {
  const headers: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (!["date", "connection", "keep-alive"].includes(name)) headers[name] = value;
  });
  return { status: res.status, headers, body: await res.text() };
}

describe("raas registry, CDN tokens", () => {
  let cdnRepo: AppRepo;
  let cdnServer: RunningRegistry;
  beforeAll(async () => {
    cdnRepo = await makeAppRepo(
      () =>
        "[general]\ndata_dir: data\n[storage]\npublic_base_url: https://cdn.example.com/bucket\n" +
        `[cdn]\nurl_auth_secret: ${"ab".repeat(16)}\nurl_auth_ttl: 60\n`,
    );
    await publish(cdnRepo, "acme-acme-app.json", acme);
    cdnServer = await startRegistryServer({ configPath: cdnRepo.configPath, host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    await cdnServer.close();
    await cdnRepo.cleanup();
  });

  it("give every blob redirect its own token (a redirect with one is never kept)", async () => {
    const [digest] = [...acme.blobBytes.keys()];
    const location = async () => {
      const res = await fetch(`${cdnServer.url}/v2/acme/app/blobs/${digest}`, { redirect: "manual" });
      expect(res.status).toBe(307);
      return new URL(res.headers.get("location") ?? "");
    };
    const first = await location();
    expect(first.pathname).toBe(`/bucket/acme-app/blobs/${digest}`);
    expect(first.searchParams.get("_auth_")).toMatch(/\S/);
    // The token carries its expiry in seconds: a request in a later second gets a later one.
    await sleep(1100);
    const second = await location();
    expect(second.pathname).toBe(first.pathname);
    expect(second.searchParams.get("_auth_")).not.toBe(first.searchParams.get("_auth_"));
  });
});

describe("kept blob redirects", () => {
  it("hold at most BLOB_REDIRECTS_MAX, starting again empty when full, each body in a block of its own", () => {
    const snap = emptySnapshot();
    const records: BlobRecord[] = Array.from({ length: BLOB_REDIRECTS_MAX + 1 }, (_, i) => ({ size: i }));
    const keep = (record: BlobRecord) =>
      keepBlobRedirect(snap, record, prepareRedirect(307, `https://example.com/${record.size}`));
    for (const record of records.slice(0, BLOB_REDIRECTS_MAX)) keep(record);
    expect(snap.blobRedirects.size).toBe(BLOB_REDIRECTS_MAX);
    const first = snap.blobRedirects.get(records[0] as BlobRecord);
    expect(first?.headers.Location).toBe("https://example.com/0");
    // Not a slice of Node's shared pool, which a kept slice would hold whole.
    expect(first?.body.buffer.byteLength).toBe(first?.body.length);
    const last = records[BLOB_REDIRECTS_MAX] as BlobRecord;
    const sent = keep(last);
    expect([...snap.blobRedirects.keys()]).toEqual([last]);
    expect(snap.blobRedirects.get(last)).toBe(sent);
    expect(sent.headers.Location).toBe(`https://example.com/${BLOB_REDIRECTS_MAX}`);
  });

  it("are not kept when the body is over BLOB_REDIRECT_BODY_MAX (a very long URL in the metadata)", () => {
    const snap = emptySnapshot();
    const long = prepareRedirect(307, `https://example.com/${"x".repeat(BLOB_REDIRECT_BODY_MAX)}`);
    expect(keepBlobRedirect(snap, { size: 1 }, long)).toBe(long);
    expect(snap.blobRedirects.size).toBe(0);
  });
});
