/**
 * The write API behind `[auth] mode = local`, through the real bundled server over local storage
 * and a real bare app remote, with real skopeo: a login may push its own namespace and becomes
 * the author of the metadata commit, another user's namespace is DENIED, anonymous writes get a
 * Bearer challenge, and tag rules in access.yaml refuse a tag the caller may not push. With
 * `[push] allow_delete`, a login deletes a tag in its own namespace (the commit is its own), a
 * token without the delete grant is challenged, and a user without the right is DENIED.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureKeys } from "../../src/auth/index.js";
import { fixtureText, PASSWORDS } from "../../src/auth/testing/policy-fixture.js";
import { deployedAppRemote, gitOut } from "../helpers/git.js";
import { writeOciLayoutDir } from "../helpers/image-builder.js";
import { freePort, MAIN, ServerProcess } from "../helpers/server-process.js";
import { verifyOciDir } from "../helpers/skopeo.js";

const run = promisify(execFile);
const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const SERVICE = "raas-push-test";

interface Tool {
  code: number;
  out: string;
}

async function tool(cmd: string, args: string[]): Promise<Tool> {
  try {
    const { stdout, stderr } = await run(cmd, args, { timeout: 120_000 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

let root: string;
let remote: string;
let host: string;
let server: ServerProcess;
let source: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "raas-push-auth-"));
  const store = join(root, "store");
  await mkdir(join(store, "v1"), { recursive: true });
  await mkdir(join(store, "v2"), { recursive: true });
  // access.yaml lives in the app repository, next to the metadata it governs.
  const app = await deployedAppRemote(root, { "access.yaml": await fixtureText() });
  remote = app.remote;
  const deploy = app.deploy;
  await ensureKeys(join(root, "state"));
  const port = await freePort();
  host = `127.0.0.1:${port}`;
  const conf = join(root, "registry.conf");
  await writeFile(
    conf,
    [
      "[general]",
      `data_dir = ${deploy}/data`,
      "data_dir_polling_interval = 0.5",
      "[serve_content]",
      "enable = true",
      `content_dir_v1 = ${store}/v1`,
      `content_dir_v2 = ${store}/v2`,
      "use_x_sendfile = false",
      "[raas]",
      `manifest_dir = ${deploy}/manifests`,
      "isv = acme",
      "[auth]",
      "mode = local",
      `realm = http://${host}/token`,
      `service = ${SERVICE}`,
      `key_dir = ${join(root, "state")}`,
      `policy_file = ${deploy}/access.yaml`,
      "[push]",
      "enable = true",
      `app_remote = ${remote}`,
      `clone_dir = ${root}/clones`,
      "max_blob_size = 50000000",
      "allow_delete = true",
      "",
    ].join("\n"),
  );
  source = join(root, "src");
  await writeOciLayoutDir(source, {
    name: "acme/tool",
    tag: "1.0",
    layers: 2,
    gzip: true,
    annotations: "skopeo",
  });
  server = new ServerProcess(conf, port, { RAAS_WORKERS: "2" });
  await server.waitFor("listening line", (e) => e.event === "listening");
}, 60_000);

afterAll(async () => {
  await server?.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

const authfile = (who: string) => join(root, `${who}.json`);
const login = (who: string) =>
  tool("skopeo", [
    "login",
    "--tls-verify=false",
    "--authfile",
    authfile(who),
    "-u",
    who,
    "-p",
    PASSWORDS[who] as string,
    host,
  ]);
const pushAs = (who: string, ref: string) =>
  tool("skopeo", [
    "copy",
    "--retry-times",
    "0",
    "--dest-tls-verify=false",
    "--dest-authfile",
    authfile(who),
    `oci:${source}:1.0`,
    `docker://${host}/${ref}`,
  ]);

async function token(user: string, scope: string): Promise<string> {
  const res = await fetch(`http://${host}/token?service=${SERVICE}&scope=${encodeURIComponent(scope)}`, {
    headers: {
      Authorization: `Basic ${Buffer.from(`${user}:${PASSWORDS[user] as string}`).toString("base64")}`,
    },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

const errorOf = async (res: Response) =>
  ((await res.json()) as { errors: { code: string; message: string }[] }).errors[0];
const commits = () =>
  gitOut(root, [`--git-dir=${remote}`, "log", "--format=%an <%ae>|%s", "main"]).split("\n");

/** A manifest (and its config) for a tag-rule request, from the image skopeo pushes. */
async function sourceManifest(): Promise<{ manifest: Buffer; mediaType: string }> {
  const index = JSON.parse(await readFile(join(source, "index.json"), "utf8")) as {
    manifests: { digest: string; mediaType: string }[];
  };
  const entry = index.manifests[0]!;
  const manifest = await readFile(join(source, "blobs", "sha256", entry.digest.slice(7)));
  return { manifest, mediaType: entry.mediaType };
}

describe.runIf(existsSync(MAIN))("pushing through [auth] mode = local", () => {
  it("alice pushes into her namespace with skopeo; the commit is hers; it pulls back by tag and digest", async () => {
    const logged = await login("alice");
    expect(logged.code, logged.out).toBe(0);
    const pushed = await pushAs("alice", "users/alice/tool:1.0");
    expect(pushed.code, pushed.out).toBe(0);
    expect(commits()[0]).toBe(`alice <alice@${SERVICE}>|acme push users/alice/tool:1.0 (registry API)`);

    const byTag = join(root, "pulled-tag");
    const pulled = await tool("skopeo", [
      "copy",
      "--src-tls-verify=false",
      "--src-authfile",
      authfile("alice"),
      `docker://${host}/users/alice/tool:1.0`,
      `oci:${byTag}:x`,
    ]);
    expect(pulled.code, pulled.out).toBe(0);
    const verified = await verifyOciDir(byTag);
    expect(verified.layers).toHaveLength(2);
    for (const name of await readdir(join(byTag, "blobs", "sha256"))) {
      expect(sha(await readFile(join(byTag, "blobs", "sha256", name)))).toBe(`sha256:${name}`);
    }
    const { manifest } = await sourceManifest();
    const byDigest = join(root, "pulled-digest");
    const again = await tool("skopeo", [
      "copy",
      "--src-tls-verify=false",
      "--src-authfile",
      authfile("alice"),
      `docker://${host}/users/alice/tool@${sha(manifest)}`,
      `oci:${byDigest}:x`,
    ]);
    expect(again.code, again.out).toBe(0);
    expect((await verifyOciDir(byDigest)).layers).toEqual(verified.layers);
    // The image is private: anonymous pulls are asked to log in.
    const anonymous = await fetch(`http://${host}/v2/users/alice/tool/manifests/1.0`);
    expect(anonymous.status).toBe(401);
  }, 120_000);

  it("bob may not push into alice's namespace: skopeo fails, the registry answers DENIED", async () => {
    const before = commits().length;
    expect((await login("bob")).code).toBe(0);
    const pushed = await pushAs("bob", "users/alice/x:1");
    expect(pushed.code).not.toBe(0);
    expect(pushed.out).toMatch(/denied|forbidden/i);

    const bearer = await token("bob", "repository:users/alice/x:pull,push");
    const upload = await fetch(`http://${host}/v2/users/alice/x/blobs/uploads/`, {
      method: "POST",
      headers: { Authorization: `Bearer ${bearer}` },
    });
    expect(upload.status).toBe(403);
    expect((await errorOf(upload))?.code).toBe("DENIED");
    const { manifest, mediaType } = await sourceManifest();
    const put = await fetch(`http://${host}/v2/users/alice/x/manifests/1`, {
      method: "PUT",
      body: new Uint8Array(manifest),
      headers: { Authorization: `Bearer ${bearer}`, "Content-Type": mediaType },
    });
    expect(put.status).toBe(403);
    expect((await errorOf(put))?.code).toBe("DENIED");
    expect(commits()).toHaveLength(before);
  }, 120_000);

  it("anonymous writes are refused with 401 and a Bearer challenge for push", async () => {
    const upload = await fetch(`http://${host}/v2/users/alice/tool/blobs/uploads/`, { method: "POST" });
    expect(upload.status).toBe(401);
    expect((await errorOf(upload))?.code).toBe("UNAUTHORIZED");
    const challenge = upload.headers.get("www-authenticate") ?? "";
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain(`realm="http://${host}/token"`);
    expect(challenge).toContain(`service="${SERVICE}"`);
    expect(challenge).toContain('scope="repository:users/alice/tool:pull,push"');

    const { manifest, mediaType } = await sourceManifest();
    const put = await fetch(`http://${host}/v2/users/alice/tool/manifests/2.0`, {
      method: "PUT",
      body: new Uint8Array(manifest),
      headers: { "Content-Type": mediaType },
    });
    expect(put.status).toBe(401);
    expect(put.headers.get("www-authenticate") ?? "").toMatch(/^Bearer /);
  });

  it("a tag rule narrows a push: apps/bigdata/**:v* is for the release group only", async () => {
    const before = commits().length;
    // alice is in devs, responsible for bigdata: a dev tag is hers to push...
    const dev = await pushAs("alice", "apps/bigdata/server:dev-7");
    expect(dev.code, dev.out).toBe(0);
    expect(commits()[0]).toBe(`alice <alice@${SERVICE}>|acme push apps/bigdata/server:dev-7 (registry API)`);
    // ...a release tag is not, although her token grants push on the repository.
    const release = await pushAs("alice", "apps/bigdata/server:v1.2");
    expect(release.code).not.toBe(0);
    expect(release.out).toContain("push of tag v1.2 in apps/bigdata/server is refused by a tag rule");
    const bearer = await token("alice", "repository:apps/bigdata/server:pull,push");
    const { manifest, mediaType } = await sourceManifest();
    const put = await fetch(`http://${host}/v2/apps/bigdata/server/manifests/v1.3`, {
      method: "PUT",
      body: new Uint8Array(manifest),
      headers: { Authorization: `Bearer ${bearer}`, "Content-Type": mediaType },
    });
    expect(put.status).toBe(403);
    const error = await errorOf(put);
    expect(error?.code).toBe("DENIED");
    expect(error?.message).toBe(
      "push of tag v1.3 in apps/bigdata/server is refused by a tag rule of the access policy",
    );
    expect(commits()).toHaveLength(before + 1);

    // rel, in the release group, may push the release tag.
    expect((await login("rel")).code).toBe(0);
    const rel = await pushAs("rel", "apps/bigdata/server:v1.2");
    expect(rel.code, rel.out).toBe(0);
    expect(commits()[0]).toBe(`rel <rel@${SERVICE}>|acme push apps/bigdata/server:v1.2 (registry API)`);
  }, 180_000);

  it("DELETE of a tag: alice in her namespace (202, her commit); others and tokens without delete are refused", async () => {
    expect((await login("alice")).code).toBe(0);
    const pushed = await pushAs("alice", "users/alice/gone:1.0");
    expect(pushed.code, pushed.out).toBe(0);
    const { manifest, mediaType } = await sourceManifest();
    const aliceRW = await token("alice", "repository:users/alice/gone:pull,push");
    const keep = await fetch(`http://${host}/v2/users/alice/gone/manifests/keep`, {
      method: "PUT",
      body: new Uint8Array(manifest),
      headers: { Authorization: `Bearer ${aliceRW}`, "Content-Type": mediaType },
    });
    expect(keep.status).toBe(201);
    const del = (path: string, bearer?: string) =>
      fetch(`http://${host}/v2/${path}`, {
        method: "DELETE",
        ...(bearer === undefined ? {} : { headers: { Authorization: `Bearer ${bearer}` } }),
      });
    const before = commits().length;

    // Anonymous, and alice's own token that does not grant delete: 401 with a challenge for delete.
    for (const bearer of [undefined, aliceRW]) {
      const refused = await del("users/alice/gone/manifests/1.0", bearer);
      expect(refused.status).toBe(401);
      expect((await errorOf(refused))?.code).toBe("UNAUTHORIZED");
      expect(refused.headers.get("www-authenticate") ?? "").toContain(
        'scope="repository:users/alice/gone:pull,delete"',
      );
    }
    // bob asks for delete in alice's namespace; dave is a manager, but users/alice is alice's alone.
    for (const who of ["bob", "dave"]) {
      const bearer = await token(who, "repository:users/alice/gone:delete");
      const refused = await del("users/alice/gone/manifests/1.0", bearer);
      expect(refused.status, who).toBe(403);
      expect((await errorOf(refused))?.code).toBe("DENIED");
    }
    // bob may push in his group's namespace but not delete there (delete needs the manager
    // privilege); the refusal comes before any look at the repository.
    const bobDelete = await token("bob", "repository:groups/devs/lib:delete");
    const bobRefused = await del("groups/devs/lib/manifests/dev-1", bobDelete);
    expect(bobRefused.status).toBe(403);
    expect((await errorOf(bobRefused))?.code).toBe("DENIED");
    expect(commits()).toHaveLength(before);

    // alice with a delete grant: 202, the commit is hers, the tag is gone, the manifest stays.
    const aliceAll = await token("alice", "repository:users/alice/gone:pull,push,delete");
    const deleted = await del("users/alice/gone/manifests/1.0", aliceAll);
    expect(deleted.status).toBe(202);
    expect(commits()[0]).toBe(`alice <alice@${SERVICE}>|acme delete users/alice/gone:1.0 (registry API)`);
    const get = (reference: string) =>
      fetch(`http://${host}/v2/users/alice/gone/manifests/${reference}`, {
        headers: { Authorization: `Bearer ${aliceAll}`, Accept: mediaType },
      });
    const goneTag = await get("1.0");
    expect(goneTag.status).toBe(404);
    expect((await errorOf(goneTag))?.code).toBe("MANIFEST_UNKNOWN");
    const byDigest = await get(sha(manifest));
    expect(byDigest.status).toBe(200);
    expect(Buffer.from(await byDigest.arrayBuffer()).equals(manifest)).toBe(true);
    const tags = await fetch(`http://${host}/v2/users/alice/gone/tags/list`, {
      headers: { Authorization: `Bearer ${aliceAll}` },
    });
    expect(await tags.json()).toEqual({ name: "users/alice/gone", tags: ["keep"] });
  }, 180_000);
});
