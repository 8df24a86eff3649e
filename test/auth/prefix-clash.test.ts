/**
 * Two repository names that differ only in `/` against `-` share one storage prefix (the dashed
 * name): `users/ann/b-app` and `users/ann-b/app` are both `users-ann-b-app`. Through the real
 * server in process, with `[auth] mode = local` (ann and ann-b each own `users/<me>/...`), a
 * real bare app remote and local storage, a tenant must not read or overwrite the other's
 * repository through that prefix: a mount copies only a blob the source's own metadata lists,
 * and a write into a prefix another repository holds is refused (409) before anything is stored.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureKeys, hashPassword } from "../../src/auth/index.js";
import { TEST_SCRYPT } from "../../src/auth/testing/policy-fixture.js";
import { startRegistryServer, type RunningRegistry } from "../../src/server/start.js";
import { deployedAppRemote, gitOut } from "../helpers/git.js";
import { imageManifest, OCI_MANIFEST } from "../helpers/oci-manifest.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const SERVICE = "raas-prefix-test";
const PASSWORDS: Record<string, string> = { ann: "ann-secret-1", "ann-b": "ann-b-secret-2" };

let root: string;
let remote: string;
let store: string;
let server: RunningRegistry;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "raas-prefix-clash-"));
  store = join(root, "store");
  await mkdir(join(store, "v1"), { recursive: true });
  await mkdir(join(store, "v2"), { recursive: true });
  const users = [];
  for (const [user, pw] of Object.entries(PASSWORDS)) {
    users.push(
      `  ${user}: { password: "${await hashPassword(pw, TEST_SCRYPT)}", privileges: [puller, pusher] }`,
    );
  }
  const policy = ["version: 1", "registry:", "  mode: restricted", "users:", ...users, ""].join("\n");
  const app = await deployedAppRemote(root, { "access.yaml": policy });
  remote = app.remote;
  await ensureKeys(join(root, "state"));
  const conf = join(root, "registry.conf");
  await writeFile(
    conf,
    [
      "[general]",
      `data_dir = ${app.deploy}/data`,
      "data_dir_polling_interval = 60",
      "[serve_content]",
      "enable = true",
      `content_dir_v1 = ${store}/v1`,
      `content_dir_v2 = ${store}/v2`,
      "use_x_sendfile = false",
      "[raas]",
      `manifest_dir = ${app.deploy}/manifests`,
      "isv = acme",
      "[auth]",
      "mode = local",
      "realm = http://127.0.0.1/token",
      `service = ${SERVICE}`,
      `key_dir = ${join(root, "state")}`,
      `policy_file = ${app.deploy}/access.yaml`,
      "[push]",
      "enable = true",
      `app_remote = ${remote}`,
      `clone_dir = ${root}/clones`,
      "allow_delete = true",
      "",
    ].join("\n"),
  );
  server = await startRegistryServer({ configPath: conf, host: "127.0.0.1", port: 0 });
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

async function token(user: string, ...scopes: string[]): Promise<string> {
  const query = scopes.map((s) => `&scope=${encodeURIComponent(s)}`).join("");
  const res = await fetch(`${server.url}/token?service=${SERVICE}${query}`, {
    headers: { Authorization: `Basic ${Buffer.from(`${user}:${PASSWORDS[user]}`).toString("base64")}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

const call = (bearer: string, path: string, init: RequestInit = {}) =>
  fetch(`${server.url}/v2/${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${bearer}`, ...(init.headers as Record<string, string>) },
  });
const errorOf = async (res: Response) =>
  ((await res.json()) as { errors: { code: string; message: string }[] }).errors[0];
const commits = () => gitOut(root, [`--git-dir=${remote}`, "rev-list", "--count", "main"]);

/** A distinct small image: config, one layer, manifest. */
function image(seed: string) {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", seed }));
  const layer = Buffer.from(`layer of ${seed}\n`.repeat(100));
  return { config, layer, manifest: imageManifest(config, layer) };
}

async function uploadBlob(bearer: string, name: string, bytes: Buffer): Promise<Response> {
  return call(bearer, `${name}/blobs/uploads/?digest=${sha(bytes)}`, {
    method: "POST",
    body: new Uint8Array(bytes),
  });
}

async function pushImage(user: string, name: string, tag: string, img: ReturnType<typeof image>) {
  const bearer = await token(user, `repository:${name}:pull,push`);
  for (const blob of [img.config, img.layer]) expect((await uploadBlob(bearer, name, blob)).status).toBe(201);
  const put = await call(bearer, `${name}/manifests/${tag}`, {
    method: "PUT",
    body: new Uint8Array(img.manifest),
    headers: { "Content-Type": OCI_MANIFEST },
  });
  expect(put.status, await put.clone().text()).toBe(201);
}

/** Every file under a prefix of the store, with its bytes. */
async function prefixFiles(prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const base = join(store, "v2", prefix);
  const entries = await readdir(base, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    out.set(path.slice(base.length + 1), (await readFile(path)).toString("base64"));
  }
  return out;
}

const secret = image("ann-b's secret");

describe("repository names that share a storage prefix", () => {
  it("a mount from a name that shares the prefix copies nothing: the secret layer stays ann-b's", async () => {
    await pushImage("ann-b", "users/ann-b/app", "1", secret);
    // ann may not read ann-b's repository.
    const annPull = await token("ann", "repository:users/ann-b/app:pull");
    expect((await call(annPull, `users/ann-b/app/blobs/${sha(secret.layer)}`)).status).toBe(403);

    // She may pull users/ann/b-app (her own namespace), whose dashed name is ann-b's prefix.
    const bearer = await token(
      "ann",
      "repository:users/ann/loot:pull,push",
      "repository:users/ann/b-app:pull",
    );
    const mount = await call(
      bearer,
      `users/ann/loot/blobs/uploads/?mount=${sha(secret.layer)}&from=users/ann/b-app`,
      { method: "POST" },
    );
    // users/ann/b-app has no metadata of its own: an ordinary upload session instead (the spec's 202).
    expect(mount.status).toBe(202);
    expect(mount.headers.get("location")).toMatch(/^\/v2\/users\/ann\/loot\/blobs\/uploads\//);
    expect(await prefixFiles("users-ann-loot")).toEqual(new Map());

    // A manifest naming the layer finds no such blob in ann's repository, and the blob is unknown.
    const own = image("ann's config");
    expect((await uploadBlob(bearer, "users/ann/loot", own.config)).status).toBe(201);
    const put = await call(bearer, "users/ann/loot/manifests/1", {
      method: "PUT",
      body: new Uint8Array(imageManifest(own.config, secret.layer)),
      headers: { "Content-Type": OCI_MANIFEST },
    });
    expect(put.status).toBe(400);
    expect((await errorOf(put))?.code).toBe("MANIFEST_BLOB_UNKNOWN");
    expect((await call(bearer, `users/ann/loot/blobs/${sha(secret.layer)}`)).status).toBe(404);
  });

  it("a mount from a repository whose metadata lists the blob still copies it (201)", async () => {
    const mine = image("ann's shared base");
    await pushImage("ann", "users/ann/base", "1", mine);
    const bearer = await token(
      "ann",
      "repository:users/ann/derived:pull,push",
      "repository:users/ann/base:pull",
    );
    const mount = await call(
      bearer,
      `users/ann/derived/blobs/uploads/?mount=${sha(mine.layer)}&from=users/ann/base`,
      {
        method: "POST",
      },
    );
    expect(mount.status).toBe(201);
    expect(mount.headers.get("docker-content-digest")).toBe(sha(mine.layer));
  });

  it("ann's push to users/ann/b-app is refused before anything is stored: ann-b's tag, tags/list and blobs are unchanged", async () => {
    const before = await prefixFiles("users-ann-b-app");
    expect(before.get("manifests/2/1")).toBe(secret.manifest.toString("base64"));
    const commitsBefore = commits();
    const bearer = await token("ann", "repository:users/ann/b-app:pull,push");
    const message = "users/ann/b-app would be stored under users-ann-b-app, which holds users/ann-b/app";

    // A manifest naming the blobs already in the prefix (ann-b's) would otherwise pass the blob check.
    const put = await call(bearer, "users/ann/b-app/manifests/1", {
      method: "PUT",
      body: new Uint8Array(imageManifest(secret.config, secret.layer, { annotations: { by: "ann" } })),
      headers: { "Content-Type": OCI_MANIFEST },
    });
    expect(put.status).toBe(409);
    const refused = await errorOf(put);
    // (Before the fix, a 409 came too, but after the tag object and tags/list had been replaced.)
    expect(await prefixFiles("users-ann-b-app")).toEqual(before);
    expect(refused).toMatchObject({ code: "DENIED", message });

    // Blob uploads, monolithic and by session, are refused at once too.
    const mine = image("ann's overwrite");
    const blob = await uploadBlob(bearer, "users/ann/b-app", mine.layer);
    expect(blob.status).toBe(409);
    expect(await errorOf(blob)).toMatchObject({ code: "DENIED", message });
    const session = await call(bearer, "users/ann/b-app/blobs/uploads/", { method: "POST" });
    expect(session.status).toBe(409);

    expect(await prefixFiles("users-ann-b-app")).toEqual(before);
    expect(commits()).toBe(commitsBefore);
    const annB = await token("ann-b", "repository:users/ann-b/app:pull");
    const tags = await call(annB, "users/ann-b/app/tags/list");
    expect(await tags.json()).toEqual({ name: "users/ann-b/app", tags: ["1"] });
    const stored = JSON.parse(
      (await readFile(join(store, "v2", "users-ann-b-app", "tags", "list"))).toString(),
    );
    expect(stored).toEqual({ name: "users/ann-b/app", tags: ["1"] });
  });

  it("the first to publish holds a prefix: ann-b's later push to users/ann-b/new is refused, ann's repository intact", async () => {
    await pushImage("ann", "users/ann/b-new", "1", image("ann's first"));
    const before = await prefixFiles("users-ann-b-new");
    const bearer = await token("ann-b", "repository:users/ann-b/new:pull,push");
    const other = image("ann-b's later");
    const blob = await uploadBlob(bearer, "users/ann-b/new", other.layer);
    expect(blob.status).toBe(409);
    expect((await errorOf(blob))?.message).toBe(
      "users/ann-b/new would be stored under users-ann-b-new, which holds users/ann/b-new",
    );
    expect(await prefixFiles("users-ann-b-new")).toEqual(before);
  });

  it("a repository whose last tag was deleted keeps its prefix (its tags/list still names it)", async () => {
    await pushImage("ann-b", "users/ann-b/gone", "1", image("ann-b's gone"));
    const del = await token("ann-b", "repository:users/ann-b/gone:pull,push,delete");
    expect((await call(del, "users/ann-b/gone/manifests/1", { method: "DELETE" })).status).toBe(202);
    const bearer = await token("ann", "repository:users/ann/b-gone:pull,push");
    const blob = await uploadBlob(bearer, "users/ann/b-gone", image("ann's claim").layer);
    expect(blob.status).toBe(409);
    expect((await errorOf(blob))?.message).toContain("which holds users/ann-b/gone");
  });
});
