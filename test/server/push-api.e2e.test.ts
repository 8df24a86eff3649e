/**
 * The write API against the real server process over HTTP: the OCI distribution spec's push
 * workflow (status and error codes as the spec gives them), hostile inputs, and skopeo pushing
 * single- and multi-platform images into raas, then pulling them back by tag and digest. Every
 * manifest PUT must land as a commit in the app repository authored by the pusher.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gitOut } from "../helpers/git.js";
import { writeOciLayoutDir } from "../helpers/image-builder.js";
import { pushApiRepo, startPushApiServer, type RegistryProcess } from "../helpers/push-api-server.js";
import { pullByTagAndDigest, skopeoPush } from "../helpers/skopeo.js";
import { podmanRepush } from "../helpers/podman.js";
import { imageManifest } from "../helpers/oci-manifest.js";

const run = promisify(execFile);
const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

let root: string;
let remote: string;
let base: string;
/** Its JSON log lines are `server.records` (each worker's request lines carry its pid). */
let server: RegistryProcess | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "raas-push-api-"));
  const repo = await pushApiRepo(root);
  remote = repo.remote;
  server = await startPushApiServer({
    root,
    repo,
    workers: 2,
    push: ["max_blob_size = 50000000", "write_once_tags = acme/frozen/"],
  });
  base = server.url;
}, 180_000);

afterAll(async () => {
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

const basic = { Authorization: `Basic ${Buffer.from("alice:secret").toString("base64")}` };
const req = (path: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, { ...init, headers: { ...basic, ...(init.headers as Record<string, string>) } });
const errorCode = async (res: Response) =>
  ((await res.json()) as { errors: { code: string }[] }).errors[0]?.code;

async function pushBlob(name: string, bytes: Buffer): Promise<string> {
  const digest = sha(bytes);
  const res = await req(`/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: "POST",
    body: new Uint8Array(bytes),
  });
  expect(res.status).toBe(201);
  return digest;
}

describe("the OCI push workflow over HTTP", () => {
  it("chunked upload: PATCH in order, 416 out of order, status, wrong digest refused, PUT completes", async () => {
    const data = Buffer.from("0123456789abcdefghij".repeat(1000));
    const start = await req("/v2/acme/chunked/blobs/uploads/", { method: "POST" });
    expect(start.status).toBe(202);
    const location = start.headers.get("location")!;
    expect(location).toMatch(/^\/v2\/acme\/chunked\/blobs\/uploads\/[0-9a-f-]{36}$/);

    const first = await req(location, {
      method: "PATCH",
      body: data.subarray(0, 7000),
      headers: { "Content-Range": "0-6999", "Content-Type": "application/octet-stream" },
    });
    expect(first.status).toBe(202);
    expect(first.headers.get("range")).toBe("0-6999");

    const outOfOrder = await req(location, {
      method: "PATCH",
      body: data.subarray(8000, 9000),
      headers: { "Content-Range": "8000-8999" },
    });
    expect(outOfOrder.status).toBe(416);
    expect(outOfOrder.headers.get("range")).toBe("0-6999");

    const status = await req(location);
    expect(status.status).toBe(204);
    expect(status.headers.get("range")).toBe("0-6999");

    const second = await req(location, {
      method: "PATCH",
      body: data.subarray(7000, 15000),
      headers: { "Content-Range": "7000-14999" },
    });
    expect(second.status).toBe(202);
    const wrong = await req(`${location}?digest=${sha(Buffer.from("other"))}`, {
      method: "PUT",
      body: data.subarray(15000),
    });
    expect(wrong.status).toBe(400);
    expect(await errorCode(wrong)).toBe("DIGEST_INVALID");
    // A wrong digest ends the session (its parts are removed); nothing became visible.
    expect((await req(location)).status).toBe(404);
    expect(
      (await req(`/v2/acme/chunked/blobs/${sha(Buffer.from("other"))}`, { method: "HEAD" })).status,
    ).toBe(404);
    const again = (await req("/v2/acme/chunked/blobs/uploads/", { method: "POST" })).headers.get("location")!;
    const done = await req(`${again}?digest=${sha(data)}`, { method: "PUT", body: data });
    expect(done.status).toBe(201);
    expect(done.headers.get("docker-content-digest")).toBe(sha(data));
    expect(done.headers.get("location")).toBe(`/v2/acme/chunked/blobs/${sha(data)}`);
    // The session is gone once the blob is complete.
    expect((await req(again)).status).toBe(404);
  });

  it("monolithic POST, POST then PUT, wrong digest never becomes visible, cancel", async () => {
    const bytes = Buffer.from("monolithic blob");
    await pushBlob("acme/mono", bytes);
    const bad = await req(`/v2/acme/mono/blobs/uploads/?digest=${sha(Buffer.from("x"))}`, {
      method: "POST",
      body: bytes,
    });
    expect(bad.status).toBe(400);
    expect(await errorCode(bad)).toBe("DIGEST_INVALID");
    const files = await readdir(join(root, "store", "acme-mono", "blobs"));
    expect(files).toEqual([`sha256:${sha(bytes).slice(7)}`]);

    const start = await req("/v2/acme/mono/blobs/uploads/", { method: "POST" });
    const other = Buffer.from("post then put");
    const put = await req(`${start.headers.get("location")}?digest=${sha(other)}`, {
      method: "PUT",
      body: other,
    });
    expect(put.status).toBe(201);

    const cancel = await req("/v2/acme/mono/blobs/uploads/", { method: "POST" });
    const where = cancel.headers.get("location")!;
    expect((await req(where, { method: "DELETE" })).status).toBe(204);
    const gone = await req(where);
    expect(gone.status).toBe(404);
    expect(await errorCode(gone)).toBe("BLOB_UPLOAD_UNKNOWN");
  });

  it("refuses bogus session ids, sessions of another repository, and bodies over the limit", async () => {
    const bogus = await req("/v2/acme/mono/blobs/uploads/..%2F..%2Fetc", { method: "PATCH", body: "x" });
    expect(bogus.status).toBe(404);
    const fake = await req("/v2/acme/mono/blobs/uploads/not-a-session", { method: "PATCH", body: "x" });
    expect(await errorCode(fake)).toBe("BLOB_UPLOAD_UNKNOWN");
    const start = await req("/v2/acme/mono/blobs/uploads/", { method: "POST" });
    const id = start.headers.get("location")!.split("/").pop()!;
    const elsewhere = await req(`/v2/acme/other/blobs/uploads/${id}`, { method: "PATCH", body: "x" });
    expect(elsewhere.status).toBe(404);
    const huge = await req(`/v2/acme/mono/blobs/uploads/${id}`, {
      method: "PATCH",
      body: Buffer.alloc(50_000_001),
    });
    expect(huge.status).toBe(413);
    expect(await errorCode(huge)).toBe("SIZE_INVALID");
  });

  it("mounts only from a repository the caller may pull; otherwise starts a session", async () => {
    const unknown = await req(
      `/v2/acme/target/blobs/uploads/?mount=${sha(Buffer.from("monolithic blob"))}&from=acme/mono`,
      {
        method: "POST",
      },
    );
    // acme/mono has no published image yet, so nobody may pull it: a normal session.
    expect(unknown.status).toBe(202);
  });

  it("manifest PUT: missing blobs refused, then a publication committed with the pusher as author", async () => {
    const config = Buffer.from(
      JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }),
    );
    const layer = Buffer.from("layer bytes");
    await pushBlob("acme/web", config);
    const headers = { "Content-Type": "application/vnd.oci.image.manifest.v1+json" };
    const missing = await req("/v2/acme/web/manifests/v1", {
      method: "PUT",
      body: imageManifest(config, layer),
      headers,
    });
    expect(missing.status).toBe(400);
    expect(await errorCode(missing)).toBe("MANIFEST_BLOB_UNKNOWN");

    const confused = await req("/v2/acme/web/manifests/v1", {
      method: "PUT",
      body: imageManifest(config, layer),
      headers: { "Content-Type": "application/vnd.oci.image.index.v1+json" },
    });
    expect(await errorCode(confused)).toBe("MANIFEST_INVALID");
    const tooBig = await req("/v2/acme/web/manifests/v1", {
      method: "PUT",
      body: Buffer.alloc(4 * 1024 * 1024 + 1, 32),
      headers,
    });
    expect(tooBig.status).toBe(413);

    // An index listing more than 1000 manifests is refused before any of them is looked up.
    const child = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha(config), size: 1 };
    const wide = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: Array(1001).fill(child),
      }),
    );
    const wideRes = await req("/v2/acme/web/manifests/wide", {
      method: "PUT",
      body: wide,
      headers: { "Content-Type": "application/vnd.oci.image.index.v1+json" },
    });
    expect(wideRes.status).toBe(400);
    expect(await errorCode(wideRes)).toBe("MANIFEST_INVALID");

    await pushBlob("acme/web", layer);
    const manifest = imageManifest(config, layer);
    const put = await req("/v2/acme/web/manifests/v1", { method: "PUT", body: manifest, headers });
    expect(put.status).toBe(201);
    expect(put.headers.get("docker-content-digest")).toBe(sha(manifest));
    expect(put.headers.get("location")).toBe(`/v2/acme/web/manifests/${sha(manifest)}`);

    // Read-your-writes: the replica that took the write serves it at once.
    const got = await req("/v2/acme/web/manifests/v1", {
      headers: { Accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(manifest)).toBe(true);
    const log = gitOut(root, [`--git-dir=${remote}`, "log", "-1", "--format=%an <%ae>|%s", "main"]);
    expect(log).toBe("alice <alice@loopback.invalid>|acme push acme/web:v1 (registry API)");

    const mismatch = await req(`/v2/acme/web/manifests/${sha(Buffer.from("x"))}`, {
      method: "PUT",
      body: manifest,
      headers,
    });
    expect(mismatch.status).toBe(400);
    expect(await errorCode(mismatch)).toBe("DIGEST_INVALID");

    // A manifest with a subject (a signature or SBOM attached to v1) answers OCI-Subject.
    const empty = Buffer.from("{}");
    await pushBlob("acme/web", empty);
    const referrer = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        artifactType: "application/vnd.example.sbom",
        config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha(empty), size: 2 },
        layers: [{ mediaType: "application/vnd.oci.empty.v1+json", digest: sha(empty), size: 2 }],
        subject: {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: sha(manifest),
          size: manifest.length,
        },
      }),
    );
    const attached = await req(`/v2/acme/web/manifests/${sha(referrer)}`, {
      method: "PUT",
      body: referrer,
      headers,
    });
    expect(attached.status).toBe(201);
    expect(attached.headers.get("oci-subject")).toBe(sha(manifest));

    // Now acme/web is pullable: a mount from it is a mount.
    const mounted = await req(`/v2/acme/copy/blobs/uploads/?mount=${sha(layer)}&from=acme/web`, {
      method: "POST",
    });
    expect(mounted.status).toBe(201);
    expect(mounted.headers.get("docker-content-digest")).toBe(sha(layer));
  }, 60_000);
});

describe("referrers, write-once tags, content discovery and management", () => {
  const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
  const EMPTY = Buffer.from("{}");
  const emptyConfig = { mediaType: "application/vnd.oci.empty.v1+json", digest: sha(EMPTY), size: 2 };

  /** An image (config + one layer) pushed under `tag`; returns its manifest digest and size. */
  async function pushImage(name: string, tag: string, seed: string) {
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", seed }));
    const layer = Buffer.from(`layer of ${seed}`);
    await pushBlob(name, config);
    await pushBlob(name, layer);
    const manifest = imageManifest(config, layer);
    const res = await req(`/v2/${name}/manifests/${tag}`, {
      method: "PUT",
      body: manifest,
      headers: { "Content-Type": OCI_MANIFEST },
    });
    return { res, digest: sha(manifest), size: manifest.length };
  }

  /** An artifact manifest (spec 1.1 guidance: empty config, artifactType) whose subject is `subject`. */
  async function pushReferrer(name: string, subject: { digest: string; size: number }, artifactType: string) {
    await pushBlob(name, EMPTY);
    const payload = Buffer.from(`${artifactType} about ${subject.digest}`);
    await pushBlob(name, payload);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType,
        config: emptyConfig,
        layers: [{ mediaType: "application/octet-stream", digest: sha(payload), size: payload.length }],
        subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.size },
        annotations: { "org.opencontainers.image.created": "2026-01-01T00:00:00Z" },
      }),
    );
    const res = await req(`/v2/${name}/manifests/${sha(manifest)}`, {
      method: "PUT",
      body: manifest,
      headers: { "Content-Type": OCI_MANIFEST },
    });
    return { res, digest: sha(manifest), size: manifest.length };
  }

  it("a manifest with a subject is listed by the referrers API, filtered by artifactType", async () => {
    const image = await pushImage("acme/signed", "1.0", "signed");
    expect(image.res.status).toBe(201);
    const sbom = await pushReferrer("acme/signed", image, "application/vnd.example.sbom.v1+json");
    expect(sbom.res.status).toBe(201);
    expect(sbom.res.headers.get("oci-subject")).toBe(image.digest);
    const signature = await pushReferrer("acme/signed", image, "application/vnd.example.signature.v1+json");
    expect(signature.res.status).toBe(201);

    const all = await req(`/v2/acme/signed/referrers/${image.digest}`);
    expect(all.status).toBe(200);
    expect(all.headers.get("content-type")).toBe("application/vnd.oci.image.index.v1+json");
    expect(all.headers.get("oci-filters-applied")).toBeNull();
    const index = (await all.json()) as {
      schemaVersion: number;
      mediaType: string;
      manifests: {
        digest: string;
        size: number;
        mediaType: string;
        artifactType: string;
        annotations?: object;
      }[];
    };
    expect(index.schemaVersion).toBe(2);
    expect(index.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(index.manifests.map((m) => m.digest).sort()).toEqual([sbom.digest, signature.digest].sort());
    const listed = index.manifests.find((m) => m.digest === sbom.digest)!;
    expect(listed).toEqual({
      mediaType: OCI_MANIFEST,
      digest: sbom.digest,
      size: sbom.size,
      artifactType: "application/vnd.example.sbom.v1+json",
      annotations: { "org.opencontainers.image.created": "2026-01-01T00:00:00Z" },
    });

    const filtered = await req(
      `/v2/acme/signed/referrers/${image.digest}?artifactType=${encodeURIComponent("application/vnd.example.sbom.v1+json")}`,
    );
    expect(filtered.headers.get("oci-filters-applied")).toBe("artifactType");
    expect(
      ((await filtered.json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest),
    ).toEqual([sbom.digest]);

    // A digest nothing refers to: an empty index, not an error. A malformed one: DIGEST_INVALID.
    const none = await req(`/v2/acme/signed/referrers/${sha(Buffer.from("nothing"))}`);
    expect(none.status).toBe(200);
    expect(((await none.json()) as { manifests: unknown[] }).manifests).toEqual([]);
    const bad = await req("/v2/acme/signed/referrers/sha256:not-hex");
    expect(bad.status).toBe(400);
    expect(await errorCode(bad)).toBe("DIGEST_INVALID");
    // The referrers of one repository are not another's.
    const other = await pushImage("acme/unsigned", "1.0", "unsigned");
    expect(other.res.status).toBe(201);
    const elsewhere = await req(`/v2/acme/unsigned/referrers/${image.digest}`);
    expect(((await elsewhere.json()) as { manifests: unknown[] }).manifests).toEqual([]);
  }, 120_000);

  it("content discovery and management: tags list pages with n, last and Link; DELETE answers 405", async () => {
    const tags = ["a1", "b2", "c3"];
    let image: Awaited<ReturnType<typeof pushImage>> | undefined;
    for (const tag of tags) {
      image = await pushImage("acme/listed", tag, "listed");
      expect(image.res.status).toBe(201);
    }
    const first = await req("/v2/acme/listed/tags/list?n=2");
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ name: "acme/listed", tags: ["a1", "b2"] });
    const link = first.headers.get("link");
    expect(link).toBe('</v2/acme/listed/tags/list?n=2&last=b2>; rel="next"');
    const second = await req(/<([^>]+)>/.exec(link!)![1]!);
    expect(await second.json()).toEqual({ name: "acme/listed", tags: ["c3"] });
    expect(second.headers.get("link")).toBeNull();
    const all = await req("/v2/acme/listed/tags/list");
    expect(((await all.json()) as { tags: string[] }).tags).toEqual(tags);

    // Deletion is not enabled: the spec's answer is 405 for manifests, tags and blobs alike.
    for (const path of [
      `/v2/acme/listed/manifests/${image!.digest}`,
      "/v2/acme/listed/manifests/a1",
      `/v2/acme/listed/blobs/${sha(Buffer.from("layer of listed"))}`,
    ]) {
      const res = await req(path, { method: "DELETE" });
      expect(res.status).toBe(405);
      expect(await errorCode(res)).toBe("UNSUPPORTED");
    }
    expect((await req("/v2/acme/listed/manifests/a1", { method: "HEAD" })).status).toBe(200);
  }, 120_000);

  it("a write-once tag is never moved: the same manifest again is fine, another one is refused", async () => {
    const first = await pushImage("acme/frozen/app", "1.0", "frozen-a");
    expect(first.res.status).toBe(201);
    const again = await pushImage("acme/frozen/app", "1.0", "frozen-a");
    expect(again.res.status).toBe(201);
    const moved = await pushImage("acme/frozen/app", "1.0", "frozen-b");
    expect(moved.res.status).toBe(409);
    const body = (await moved.res.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe("DENIED");
    expect(body.errors[0]?.message).toContain("tag 1.0 of acme/frozen/app is write-once");
    // The tag still names the first manifest; a new tag is fine; outside the prefix tags move.
    const served = await req("/v2/acme/frozen/app/manifests/1.0", { headers: { Accept: OCI_MANIFEST } });
    expect(served.headers.get("docker-content-digest")).toBe(first.digest);
    expect((await pushImage("acme/frozen/app", "1.1", "frozen-b")).res.status).toBe(201);
    expect((await pushImage("acme/thawed", "1.0", "thawed-a")).res.status).toBe(201);
    expect((await pushImage("acme/thawed", "1.0", "thawed-b")).res.status).toBe(201);

    // skopeo is refused with the registry's message.
    const src = join(root, "src-frozen");
    await writeOciLayoutDir(src, { name: "acme/frozen/app", tag: "1.0", layers: 1, annotations: "skopeo" });
    const host = base.replace(/^http:\/\//, "");
    const refused = await skopeoPush(`oci:${src}:1.0`, `${host}/acme/frozen/app:1.0`, { creds: "bob:pw" });
    expect(refused).toMatch(/write-once/);
  }, 180_000);
});

/** One request on a fresh connection, so consecutive requests reach different workers. */
function fresh(
  method: string,
  path: string,
  body?: Buffer,
  headers: Record<string, string> = {},
  chunked = false,
) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>(
    (resolve, reject) => {
      const r = httpRequest(
        `${base}${path}`,
        { method, agent: false, headers: { ...basic, ...headers } },
        (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        },
      );
      r.on("error", reject);
      // Written before end(), the body goes out in chunked encoding: no Content-Length to check first.
      if (chunked && body !== undefined) r.write(body);
      r.end(chunked ? undefined : body);
    },
  );
}

describe("upload sessions live in storage", () => {
  it("a session begun on one worker is continued and completed on another", async () => {
    const data = Buffer.from("x".repeat(3000) + "y".repeat(3000) + "z".repeat(3000));
    const start = await fresh("POST", "/v2/acme/workers/blobs/uploads/");
    const location = String(start.headers.location);
    const id = location.split("/").pop()!;
    for (let i = 0; i < 3; i++) {
      const part = data.subarray(i * 3000, (i + 1) * 3000);
      const res = await fresh("PATCH", location, part, { "Content-Range": `${i * 3000}-${i * 3000 + 2999}` });
      expect(res.status).toBe(202);
    }
    const done = await fresh("PUT", `${location}?digest=${sha(data)}`);
    expect(done.status).toBe(201);
    await new Promise((r) => setTimeout(r, 200));
    const workers = new Set(
      server!.records.filter((r) => typeof r.path === "string" && r.path.includes(id)).map((r) => r.worker),
    );
    expect(workers.size).toBe(2);
  });

  it("streamed bodies are held to the Content-Range and the size limit while they arrive", async () => {
    const start = await fresh("POST", "/v2/acme/stream/blobs/uploads/");
    const location = String(start.headers.location);
    const longer = await fresh("PATCH", location, Buffer.alloc(2000, 1), { "Content-Range": "0-999" }, true);
    expect(longer.status).toBe(416);
    expect(longer.headers.range).toBe("0-0");
    const huge = await fresh("PATCH", location, Buffer.alloc(50_000_001, 2), {}, true).catch(() => ({
      status: 413,
    }));
    expect(huge.status).toBe(413);
    const mono = await fresh(
      "POST",
      `/v2/acme/stream/blobs/uploads/?digest=${sha(Buffer.alloc(50_000_001, 2))}`,
      Buffer.alloc(50_000_001, 2),
      {},
      true,
    ).catch(() => ({ status: 413 }));
    expect(mono.status).toBe(413);
    // Nothing of it is visible, and the session still stands at 0.
    expect((await fresh("GET", location)).headers.range).toBe("0-0");
    await expect(readdir(join(root, "store", "acme-stream"))).rejects.toThrow();
  });

  it("concurrent PATCHes at one offset leave one consistent session", async () => {
    const start = await req("/v2/acme/race/blobs/uploads/", { method: "POST" });
    const location = start.headers.get("location")!;
    const a = Buffer.from("a".repeat(5000));
    const b = Buffer.from("b".repeat(7000));
    const results = await Promise.all([
      fresh("PATCH", location, a, { "Content-Range": "0-4999" }),
      fresh("PATCH", location, b, { "Content-Range": "0-6999" }),
    ]);
    // Both may land (a race), or the later one finds the session moved on (416): never anything else.
    const statuses = results.map((r) => r.status);
    expect(statuses.every((st) => st === 202 || st === 416)).toBe(true);
    expect(statuses).toContain(202);
    const range = (await req(location)).headers.get("range");
    // When both landed the longest chain is the session; either way it is one chunk, whole.
    if (statuses.every((st) => st === 202)) expect(range).toBe("0-6999");
    else expect(range).toBe(statuses[0] === 202 ? "0-4999" : "0-6999");
    const winner = range === "0-6999" ? b : a;
    // The session's bytes are exactly the winner's chunk: a mix of the two would not hash to it.
    expect((await req(`${location}?digest=${sha(winner)}`, { method: "PUT" })).status).toBe(201);
  });
});

describe("an upload of very many tiny chunks", () => {
  it("costs one state object per chunk, not a growing chain, and is refused past 1,000 chunks with 400 BLOB_UPLOAD_INVALID", async () => {
    const data = randomBytes(1001);
    const start = await req("/v2/acme/tiny/blobs/uploads/", { method: "POST" });
    const location = start.headers.get("location")!;
    const session = join(root, "store", ".raas-uploads", location.split("/").pop()!);
    const stateBytes = async () => {
      const names = (await readdir(session)).filter((n) => n.startsWith("state-"));
      const sizes = await Promise.all(names.map(async (n) => (await stat(join(session, n))).size));
      return { count: names.length, bytes: sizes.reduce((a, b) => a + b, 0) };
    };
    let written = 0;
    for (let i = 0; i < 1000; i++) {
      const res = await req(location, {
        method: "PATCH",
        body: new Uint8Array(data.subarray(i, i + 1)),
        headers: { "Content-Range": `${i}-${i}`, "Content-Type": "application/octet-stream" },
      });
      expect(res.status).toBe(202);
      expect(res.headers.get("range")).toBe(`0-${i}`);
      if (i % 100 === 99) {
        // Superseded states are gone: the session holds one state, whatever came before.
        const states = await stateBytes();
        expect(states.count).toBe(1);
        written += states.bytes;
      }
    }
    // The one state names every part, so it grows with them: bounded by the chunk limit.
    expect((await stateBytes()).bytes).toBeLessThan(200_000);
    expect(written).toBeGreaterThan(0);

    const refused = await req(location, {
      method: "PATCH",
      body: new Uint8Array(data.subarray(1000)),
      headers: { "Content-Range": "1000-1000", "Content-Type": "application/octet-stream" },
    });
    expect(refused.status).toBe(400);
    const body = (await refused.json()) as { errors: { code: string; message: string; detail: unknown }[] };
    expect(body.errors[0]).toMatchObject({
      code: "BLOB_UPLOAD_INVALID",
      detail: { limit: 1000, offset: 1000 },
    });
    expect(body.errors[0]!.message).toContain("1000 chunks");
    expect(refused.headers.get("range")).toBe("0-999");
    // The session is intact: the closing PUT may still carry the rest, and the blob is whole.
    const done = await req(`${location}?digest=${sha(data)}`, {
      method: "PUT",
      body: new Uint8Array(data.subarray(1000)),
      headers: { "Content-Range": "1000-1000", "Content-Type": "application/octet-stream" },
    });
    expect(done.status).toBe(201);
    const files = await readdir(join(root, "store", "acme-tiny"), { recursive: true, withFileTypes: true });
    const blob = files.find((f) => f.isFile() && f.name.endsWith(sha(data).slice(7)));
    expect(blob).toBeDefined();
    expect(await readFile(join(blob!.parentPath, blob!.name))).toEqual(data);
    expect(await readdir(session).catch(() => [])).toEqual([]);
  }, 180_000);
});

describe("real clients push into raas", () => {
  const skopeo = (args: string[]) => run("skopeo", args, { timeout: 120_000 });
  const host = () => base.replace(/^http:\/\//, "");

  it("skopeo copies a single-image and a multi-platform image in, podman pushes one, and all pull back by tag and digest", async () => {
    const src = join(root, "src-single");
    await writeOciLayoutDir(src, {
      name: "acme/single",
      tag: "1.0",
      layers: 2,
      gzip: true,
      annotations: "skopeo",
    });
    const multi = join(root, "src-multi");
    await writeOciLayoutDir(multi, {
      name: "acme/multi",
      tag: "2.0",
      layers: 2,
      gzip: true,
      annotations: "skopeo",
      platforms: [
        { architecture: "amd64", os: "linux" },
        { architecture: "arm64", os: "linux" },
      ],
    });
    expect(await skopeoPush(`oci:${src}:1.0`, `${host()}/acme/single:1.0`, { creds: "bob:pw" })).toBe("");
    expect(
      await skopeoPush(`oci:${multi}:2.0`, `${host()}/acme/multi:2.0`, { creds: "bob:pw", all: true }),
    ).toBe("");

    const { byTag: verified, byDigest } = await pullByTagAndDigest(host(), "acme/single", "1.0", root);
    expect(verified.layers).toHaveLength(2);
    expect(byDigest.layers).toEqual(verified.layers);

    const multiOut = join(root, "pulled-multi");
    await skopeo([
      "copy",
      "--all",
      "--src-tls-verify=false",
      `docker://${host()}/acme/multi:2.0`,
      `oci:${multiOut}:x`,
    ]);
    const { stdout: raw } = await skopeo([
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${host()}/acme/multi:2.0`,
    ]);
    expect((JSON.parse(raw) as { manifests: unknown[] }).manifests).toHaveLength(2);
    // Every blob skopeo pulled hashes to its name.
    const blobs = await readdir(join(multiOut, "blobs", "sha256"));
    expect(blobs.length).toBeGreaterThanOrEqual(2 + 2 * 3);
    for (const name of blobs) {
      expect(sha(await readFile(join(multiOut, "blobs", "sha256", name)))).toBe(`sha256:${name}`);
    }
    const { stdout: multiDigest } = await skopeo([
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${host()}/acme/multi@${sha(Buffer.from(raw))}`,
    ]);
    expect(multiDigest).toBe(raw);

    // podman, with its own throw-away storage: pull the image from raas, push it under another name.
    const repushed = await podmanRepush(root, host(), "acme/single:1.0", "acme/podman:3.0", 120_000);
    expect(repushed.diffIds).toEqual(verified.diffIds);

    const authors = gitOut(root, [`--git-dir=${remote}`, "log", "--format=%an|%s", "main"]).split("\n");
    expect(authors).toContain("bob|acme push acme/single:1.0 (registry API)");
    expect(authors).toContain("bob|acme push acme/multi:2.0 (registry API)");
    expect(authors).toContain("carol|acme push acme/podman:3.0 (registry API)");
  }, 180_000);
});
