/**
 * Identity and access through the real registry server (the bundle, two workers) with real
 * clients: skopeo and podman log in and pull through it, blobs of private repositories come from
 * S3 (s3rver) through presigned redirects that expire, anonymous pulls of public prefixes need no
 * login, listings show only what the caller may pull, and access.yaml reloads with a deploy.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureKeys } from "../../src/auth/index.js";
import { fixtureText, PASSWORDS, SERVICE_TOKENS } from "../../src/auth/testing/policy-fixture.js";
import { blobKey } from "../../src/crane/keys.js";
import type { Digest } from "../../src/image/digest.js";
import {
  buildImages,
  makeAppRepo,
  publish,
  type AppRepo,
  type BuiltImage,
} from "../../src/server/testing/fixture.js";
import { freePort, MAIN, ServerProcess } from "../helpers/server-process.js";
import { startS3rver, S3RVER_CREDENTIALS, type RunningS3rver } from "../helpers/s3rver.js";

const run = promisify(execFile);
const BUCKET = "private-test";
const PRIVATE_TTL = 3;

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

let s3: RunningS3rver;
let repo: AppRepo;
let server: ServerProcess;
let host: string;
let work: string;
const images = new Map<string, BuiltImage>();

const NAMES = ["users/alice/tool", "users/bob/testimage", "apps/bigdata/server", "public/base"];
const storageDir = (name: string) => name.replaceAll("/", "-");

function config(root: string, port: number): string {
  return [
    "[general]",
    "data_dir = data",
    "data_dir_polling_interval = 0.2",
    "[serve_content]",
    "enable = false",
    "[raas]",
    "manifest_dir = manifests",
    "[storage]",
    "kind = s3",
    `bucket = ${BUCKET}`,
    `endpoint = ${s3.endpoint}`,
    "region = us-east-1",
    "force_path_style = true",
    // Public redirects, as for an anonymous registry: private repositories must still get
    // presigned URLs only.
    "redirect = public",
    `public_base_url = ${s3.endpoint}/${BUCKET}`,
    "[auth]",
    "mode = local",
    `realm = http://127.0.0.1:${port}/token`,
    "service = raas-test",
    `key_dir = ${join(root, "state")}`,
    `policy_file = ${join(root, "access.yaml")}`,
    `private_blob_ttl = ${PRIVATE_TTL}`,
    "",
  ].join("\n");
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "raas-authwire-"));
  s3 = await startS3rver({ buckets: [BUCKET] });
  const port = await freePort();
  host = `127.0.0.1:${port}`;
  repo = await makeAppRepo((paths) => config(paths.root, port));
  await writeFile(join(repo.root, "access.yaml"), await fixtureText());
  await ensureKeys(join(repo.root, "state"));
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
  });
  for (const name of NAMES) {
    const built = buildImages(name, storageDir(name), name);
    images.set(name, built);
    await publish(repo, `${storageDir(name)}.json`, built);
    for (const [digest, bytes] of built.blobBytes) {
      await client.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: blobKey(storageDir(name), digest), Body: bytes }),
      );
    }
  }
  client.destroy();
  server = new ServerProcess(repo.configPath, port, {
    RAAS_WORKERS: "2",
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  });
  await server.waitFor("listening line", (e) => e.event === "listening");
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await s3?.stop();
  await repo?.cleanup();
  await rm(work, { recursive: true, force: true });
});

const authfile = (who: string) => join(work, `${who}.json`);
const login = (who: string, user: string, secret: string, cmd = "skopeo") =>
  tool(cmd, ["login", "--tls-verify=false", "--authfile", authfile(who), "-u", user, "-p", secret, host]);
const copy = (who: string | undefined, ref: string, dest: string) =>
  tool("skopeo", [
    "copy",
    "--src-tls-verify=false",
    "--retry-times",
    "0",
    ...(who === undefined ? ["--src-no-creds"] : ["--src-authfile", authfile(who)]),
    `docker://${host}/${ref}`,
    `dir:${join(work, dest)}`,
  ]);
const expectPulled = async (name: string, dest: string) => {
  const built = images.get(name);
  const digest = built?.publication.tags["1.0"] as Digest;
  const manifest = await readFile(join(work, dest, "manifest.json"));
  expect(manifest.equals(built?.manifestBytes.get(digest) as Buffer)).toBe(true);
};

async function token(user: string, secret: string, scope: string): Promise<string> {
  const res = await fetch(`http://${host}/token?service=raas-test&scope=${encodeURIComponent(scope)}`, {
    headers: { Authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString("base64")}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

describe.runIf(existsSync(MAIN))("[auth] mode = local through the real server", () => {
  it("anonymous pull of a public prefix works without login; a private one asks for a login", async () => {
    const pulled = await copy(undefined, "public/base:1.0", "anon-public");
    expect(pulled.code, pulled.out).toBe(0);
    await expectPulled("public/base", "anon-public");
    const denied = await copy(undefined, "users/alice/tool:1.0", "anon-private");
    expect(denied.code).not.toBe(0);
    expect(denied.out).toMatch(/unauthorized|authentication required/i);
  });

  it("wrong password: skopeo and podman login fail with 401", async () => {
    const res = await fetch(`http://${host}/token?service=raas-test`, {
      headers: { Authorization: `Basic ${Buffer.from("alice:wrong").toString("base64")}` },
    });
    expect(res.status).toBe(401);
    for (const cmd of ["skopeo", "podman"]) {
      const result = await login(`bad-${cmd}`, "alice", "wrong", cmd);
      expect(result.code).not.toBe(0);
      expect(result.out).toMatch(/invalid username\/password|unauthorized/i);
    }
  });

  it("skopeo login, then pull a private image; another user's namespace is DENIED", async () => {
    expect((await login("alice", "alice", PASSWORDS.alice as string)).code).toBe(0);
    const own = await copy("alice", "users/alice/tool:1.0", "alice-own");
    expect(own.code, own.out).toBe(0);
    await expectPulled("users/alice/tool", "alice-own");
    const other = await copy("alice", "users/bob/testimage:1.0", "alice-bob");
    expect(other.code).not.toBe(0);
    expect(other.out).toMatch(/denied/i);
    // The registry answers DENIED (403) with the OCI error body to a known caller.
    const bearer = await token("alice", PASSWORDS.alice as string, "repository:users/bob/testimage:pull");
    const res = await fetch(`http://${host}/v2/users/bob/testimage/manifests/1.0`, {
      headers: { Authorization: `Bearer ${bearer}` },
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe("DENIED");
  });

  it("podman login works against the same server", async () => {
    expect((await login("alice-podman", "alice", PASSWORDS.alice as string, "podman")).code).toBe(0);
    const own = await copy("alice-podman", "users/alice/tool:1.0", "alice-podman");
    expect(own.code, own.out).toBe(0);
    await expectPulled("users/alice/tool", "alice-podman");
  });

  it("a service login pulls apps/<its app>/… and nothing under users/", async () => {
    expect((await login("svc", "node-17", SERVICE_TOKENS["node-17"] as string)).code).toBe(0);
    const app = await copy("svc", "apps/bigdata/server:1.0", "svc-app");
    expect(app.code, app.out).toBe(0);
    await expectPulled("apps/bigdata/server", "svc-app");
    const users = await copy("svc", "users/alice/tool:1.0", "svc-users");
    expect(users.code).not.toBe(0);
    expect(users.out).toMatch(/denied/i);
  });

  it("a private blob redirect is presigned and stops working after its TTL; public ones are plain", async () => {
    const alice = await token("alice", PASSWORDS.alice as string, "repository:users/alice/tool:pull");
    const [digest, bytes] = [...(images.get("users/alice/tool")?.blobBytes ?? [])][0] ?? [];
    const res = await fetch(`http://${host}/v2/users/alice/tool/blobs/${String(digest)}`, {
      headers: { Authorization: `Bearer ${alice}` },
      redirect: "manual",
    });
    expect(res.status).toBe(307);
    const location = new URL(res.headers.get("location") ?? "");
    expect(location.searchParams.get("X-Amz-Expires")).toBe(String(PRIVATE_TTL));
    expect(location.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    const fresh = await fetch(location);
    expect(fresh.status).toBe(200);
    expect(Buffer.from(await fresh.arrayBuffer()).equals(bytes as Buffer)).toBe(true);
    await sleep((PRIVATE_TTL + 1.5) * 1000);
    const stale = await fetch(location);
    expect(stale.status).toBe(403);
    expect(await stale.text()).toMatch(/Request has expired/);

    const [pubDigest] = [...(images.get("public/base")?.blobBytes.keys() ?? [])];
    const pub = await fetch(`http://${host}/v2/public/base/blobs/${String(pubDigest)}`, {
      redirect: "manual",
    });
    expect(pub.status).toBe(307);
    expect(pub.headers.get("location")).toBe(
      `${s3.endpoint}/${BUCKET}/${storageDir("public/base")}/blobs/${String(pubDigest)}`,
    );
    // Asked again (now kept), the public one is the same. The private one, asked again seconds
    // later, is signed anew (its X-Amz-Date has moved): a private redirect is never kept.
    const pubAgain = await fetch(`http://${host}/v2/public/base/blobs/${String(pubDigest)}`, {
      redirect: "manual",
    });
    expect(pubAgain.headers.get("location")).toBe(pub.headers.get("location"));
    const privateAgain = await fetch(`http://${host}/v2/users/alice/tool/blobs/${String(digest)}`, {
      headers: { Authorization: `Bearer ${alice}` },
      redirect: "manual",
    });
    const again = new URL(privateAgain.headers.get("location") ?? "");
    expect(again.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    expect(again.searchParams.get("X-Amz-Date")).not.toBe(location.searchParams.get("X-Amz-Date"));
  });

  it("catalog, tags and /v1/search show only what the caller may pull", async () => {
    const catalog = async (authorization?: string) => {
      const res = await fetch(`http://${host}/v2/_catalog`, {
        headers: authorization === undefined ? {} : { Authorization: authorization },
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { repositories: string[] }).repositories;
    };
    expect(await catalog()).toEqual(["public/base"]);
    const alice = await token("alice", PASSWORDS.alice as string, "registry:catalog:*");
    expect(await catalog(`Bearer ${alice}`)).toEqual([
      "apps/bigdata/server",
      "public/base",
      "users/alice/tool",
    ]);
    const search = async (authorization?: string) => {
      const res = await fetch(`http://${host}/v1/search?q=e`, {
        headers: authorization === undefined ? {} : { Authorization: authorization },
      });
      return ((await res.json()) as { results: { name: string }[] }).results.map((r) => r.name).sort();
    };
    expect(await search()).toEqual(["public/base"]);
    // What the registry has loaded (for `raas status`): only the repositories the caller may pull.
    const loaded = async (authorization?: string) => {
      const res = await fetch(`http://${host}/raas/loaded`, {
        headers: authorization === undefined ? {} : { Authorization: authorization },
      });
      expect(res.status).toBe(200);
      return Object.keys(
        ((await res.json()) as { repositories: Record<string, string> }).repositories,
      ).sort();
    };
    expect(await loaded()).toEqual(["public/base"]);
    expect(await loaded(`Bearer ${alice}`)).toEqual([
      "apps/bigdata/server",
      "public/base",
      "users/alice/tool",
    ]);
    const carol = await token("carol", PASSWORDS.carol as string, "registry:catalog:*");
    expect(await search(`Bearer ${carol}`)).toEqual(["apps/bigdata/server", "public/base"]);
    // tags/list of a repository the caller may not pull: 401 for anonymous, no listing.
    const tags = await fetch(`http://${host}/v2/users/bob/testimage/tags/list`);
    expect(tags.status).toBe(401);
    expect(tags.headers.get("www-authenticate")).toContain('scope="repository:users/bob/testimage:pull"');
    // The web page lists only public repositories to an anonymous visitor.
    const page = await (await fetch(`http://${host}/ui/`)).text();
    expect(page).toContain("public/base");
    expect(page).not.toContain("users/bob/testimage");
  });

  it("cross-repository blob access stays impossible under auth", async () => {
    // A layer only bob's repository lists (the image configs are the same everywhere).
    const aliceBlobs = images.get("users/alice/tool")?.blobBytes;
    const bobBlob = [...(images.get("users/bob/testimage")?.blobBytes.keys() ?? [])].find(
      (d) => aliceBlobs?.has(d) === false,
    );
    expect(bobBlob).toBeDefined();
    const alice = await token("alice", PASSWORDS.alice as string, "repository:users/alice/tool:pull");
    const res = await fetch(`http://${host}/v2/users/alice/tool/blobs/${String(bobBlob)}`, {
      headers: { Authorization: `Bearer ${alice}` },
      redirect: "manual",
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe("BLOB_UNKNOWN");
  });

  it("a changed access.yaml is served after the next reload, by every worker", async () => {
    const text = await readFile(join(repo.root, "access.yaml"), "utf8");
    await writeFile(
      join(repo.root, "access.yaml"),
      text.replace(
        'anonymousPull: ["public/**", "apps/demo/docs"]',
        'anonymousPull: ["public/**", "users/bob/**"]',
      ),
    );
    const deadline = Date.now() + 15_000;
    let statuses: number[] = [];
    while (Date.now() < deadline) {
      statuses = [];
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`http://${host}/v2/users/bob/testimage/manifests/1.0`, {
          headers: { Connection: "close" },
        });
        statuses.push(res.status);
      }
      if (statuses.every((s) => s === 200)) break;
      await sleep(200);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    await writeFile(join(repo.root, "access.yaml"), text);
  });
});
