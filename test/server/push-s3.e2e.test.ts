/**
 * The write API on S3 storage (s3rver on loopback), the ISV's default backend: the real server
 * process with two workers, no serve_content. Chunked uploads with chunks under and over S3's
 * 5 MiB part minimum, a session continued on the other worker, cancel, a wrong digest that
 * leaves nothing in the bucket, and skopeo and podman pushing a real image (a 12 MiB layer, so
 * its upload is a multipart one) into raas on S3, pulled back through raas and verified.
 */
import { createHash } from "node:crypto";
import { request as httpRequest } from "node:http";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Store } from "../../src/storage/s3.js";
import { gitOut } from "../helpers/git.js";
import { writeOciLayoutDir } from "../helpers/image-builder.js";
import { pushApiRepo, startPushApiServer, type RegistryProcess } from "../helpers/push-api-server.js";
import { startS3rver, S3RVER_CREDENTIALS, type RunningS3rver } from "../helpers/s3rver.js";
import { pullByTagAndDigest, skopeoPush } from "../helpers/skopeo.js";
import { podmanRepush } from "../helpers/podman.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const MIB = 1024 * 1024;
const BUCKET = "raas-acme";

let root: string;
let remote: string;
let s3: RunningS3rver;
let store: S3Store;
let server: RegistryProcess | undefined;
let base: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "raas-push-s3-"));
  s3 = await startS3rver({ buckets: [BUCKET] });
  store = new S3Store({ bucket: BUCKET, endpoint: s3.endpoint, credentials: s3.credentials });
  const repo = await pushApiRepo(root);
  remote = repo.remote;
  server = await startPushApiServer({
    root,
    repo,
    workers: 2,
    storage: [
      "[storage]",
      "kind = s3",
      `bucket = ${BUCKET}`,
      `endpoint = ${s3.endpoint}`,
      "force_path_style = true",
      `public_base_url = ${s3.endpoint}/${BUCKET}`,
    ],
    push: ["max_blob_size = 100000000"],
    env: {
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    },
  });
  base = server.url;
}, 180_000);

afterAll(async () => {
  await server?.stop();
  await store?.close();
  await s3?.stop();
  await rm(root, { recursive: true, force: true });
});

const basic = { Authorization: `Basic ${Buffer.from("alice:secret").toString("base64")}` };

/** One request on a fresh connection, so consecutive requests reach different workers. */
function fresh(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}) {
  return new Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    text: string;
  }>((resolve, reject) => {
    const r = httpRequest(
      `${base}${path}`,
      { method, agent: false, headers: { ...basic, ...headers } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    r.on("error", reject);
    // Written before end(), the body goes out chunked, as clients stream a layer.
    if (body !== undefined) r.write(body);
    r.end();
  });
}

const workersOf = (id: string) =>
  new Set(server!.records.filter((r) => JSON.stringify(r).includes(id)).map((r) => r.worker));

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list(prefix)) keys.push(object.key);
  return keys;
}

function random(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 32) createHash("sha256").update(`${seed}:${i}`).digest().copy(out, i);
  return out;
}

describe("blob uploads into S3 through the registry", () => {
  it("chunks under and over 5 MiB, continued across both workers, land as one verified blob", async () => {
    const data = random(14 * MIB + 12345, 1);
    const cuts = [0, 1 * MIB, 3 * MIB, 10 * MIB, 11 * MIB, data.length];
    const start = await fresh("POST", "/v2/acme/big/blobs/uploads/");
    expect(start.status).toBe(202);
    // The client is told the size below which chunks would be held back and written again.
    expect(start.headers["oci-chunk-min-length"]).toBe(String(5 * MIB));
    const location = String(start.headers.location);
    const id = location.split("/").pop()!;
    for (let i = 0; i + 1 < cuts.length; i++) {
      const [from, to] = [cuts[i]!, cuts[i + 1]!];
      const res = await fresh("PATCH", location, data.subarray(from, to), {
        "Content-Range": `${from}-${to - 1}`,
      });
      expect(res.status).toBe(202);
      expect(res.headers.range).toBe(`0-${to - 1}`);
    }
    const status = await fresh("GET", location);
    expect(status.status).toBe(204);
    expect(status.headers.range).toBe(`0-${data.length - 1}`);
    const done = await fresh("PUT", `${location}?digest=${sha(data)}`);
    expect(done.status).toBe(201);
    expect(done.headers["docker-content-digest"]).toBe(sha(data));
    expect(sha(await store.getBuffer(`acme-big/blobs/${sha(data)}`))).toBe(sha(data));
    expect(await keysUnder(`.raas-uploads/${id}/`)).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(workersOf(id).size).toBe(2);
  }, 120_000);

  it("a wrong digest leaves nothing in the bucket and ends the session; cancel removes a session", async () => {
    const data = random(9 * MIB, 2);
    const start = await fresh("POST", "/v2/acme/wrong/blobs/uploads/");
    const location = String(start.headers.location);
    const id = location.split("/").pop()!;
    expect((await fresh("PATCH", location, data)).status).toBe(202);
    const claimed = sha(Buffer.from("not these bytes"));
    const wrong = await fresh("PUT", `${location}?digest=${claimed}`);
    expect(wrong.status).toBe(400);
    expect((JSON.parse(wrong.text) as { errors: { code: string }[] }).errors[0]?.code).toBe("DIGEST_INVALID");
    expect(await keysUnder("acme-wrong/")).toEqual([]);
    expect(await keysUnder(`.raas-uploads/${id}/`)).toEqual([]);
    expect((await fresh("GET", location)).status).toBe(404);

    const other = await fresh("POST", "/v2/acme/wrong/blobs/uploads/");
    const where = String(other.headers.location);
    const otherId = where.split("/").pop()!;
    expect((await fresh("PATCH", where, random(6 * MIB, 3))).status).toBe(202);
    expect(
      (await fresh("PATCH", where, random(1 * MIB, 4), { "Content-Range": `${6 * MIB}-${7 * MIB - 1}` }))
        .status,
    ).toBe(202);
    expect((await keysUnder(`.raas-uploads/${otherId}/`)).length).toBeGreaterThan(0);
    expect((await fresh("DELETE", where)).status).toBe(204);
    expect(await keysUnder(`.raas-uploads/${otherId}/`)).toEqual([]);
    expect((await fresh("GET", where)).status).toBe(404);
  }, 120_000);

  it("monolithic POST with a digest writes the blob straight to S3", async () => {
    const bytes = random(200_000, 5);
    const res = await fresh("POST", `/v2/acme/mono/blobs/uploads/?digest=${sha(bytes)}`, bytes);
    expect(res.status).toBe(201);
    expect(sha(await store.getBuffer(`acme-mono/blobs/${sha(bytes)}`))).toBe(sha(bytes));
    const bad = await fresh("POST", `/v2/acme/mono/blobs/uploads/?digest=${sha(Buffer.from("x"))}`, bytes);
    expect(bad.status).toBe(400);
    expect(await keysUnder("acme-mono/")).toEqual([`acme-mono/blobs/${sha(bytes)}`]);
  }, 60_000);
});

describe("real clients push into raas on S3", () => {
  const host = () => base.replace(/^http:\/\//, "");

  it("skopeo and podman push an image with a 12 MiB layer; it pulls back by tag and digest, every blob verified", async () => {
    const src = join(root, "src");
    await writeOciLayoutDir(src, {
      name: "acme/app",
      tag: "1.0",
      layers: 2,
      layerSize: 12 * MIB,
      gzip: true,
      annotations: "skopeo",
    });
    expect(
      await skopeoPush(`oci:${src}:1.0`, `${host()}/acme/app:1.0`, { creds: "bob:pw", timeout: 180_000 }),
    ).toBe("");

    const pulled = await pullByTagAndDigest(host(), "acme/app", "1.0", root, 180_000);
    const verified = pulled.byTag;
    expect(verified.layers).toHaveLength(2);
    for (const name of await readdir(join(root, "pulled-tag", "blobs", "sha256"))) {
      expect(sha(await readFile(join(root, "pulled-tag", "blobs", "sha256", name)))).toBe(`sha256:${name}`);
    }
    expect(pulled.byDigest.layers).toEqual(verified.layers);
    // The layers are in the bucket under their digests; no session is left behind.
    for (const layer of verified.layers) {
      expect(await store.head(`acme-app/blobs/${layer}`)).toBeDefined();
    }
    expect(await keysUnder(".raas-uploads/")).toEqual([]);

    const repushed = await podmanRepush(root, host(), "acme/app:1.0", "acme/copy:2.0", 180_000);
    expect(repushed.diffIds).toEqual(verified.diffIds);

    const authors = gitOut(root, [`--git-dir=${remote}`, "log", "--format=%an|%s", "main"]).split("\n");
    expect(authors).toContain("bob|acme push acme/app:1.0 (registry API)");
    expect(authors).toContain("carol|acme push acme/copy:2.0 (registry API)");
  }, 400_000);
});
