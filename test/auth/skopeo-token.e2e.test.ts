/**
 * The token protocol with a real client: a loopback registry whose only logic is src/auth
 * (createLocalAuth, createTokenRoute, authorize) serving one small image under every name, and
 * skopeo logging in and inspecting through it. The registry server proper mounts the same
 * functions; this test pins the protocol, not the server.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalAuth, createTokenRoute, sendAuthError } from "../../src/auth/index.js";
import { fixtureText, PASSWORDS, SERVICE_TOKENS } from "../../src/auth/testing/policy-fixture.js";

const run = promisify(execFile);

const config = Buffer.from(
  JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }),
);
const configDigest = `sha256:${createHash("sha256").update(config).digest("hex")}`;
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: configDigest,
      size: config.length,
    },
    layers: [],
  }),
);
const manifestDigest = `sha256:${createHash("sha256").update(manifest).digest("hex")}`;

let dir: string;
let server: Server;
let host: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-auth-e2e-"));
  await writeFile(join(dir, "access.yaml"), await fixtureText());
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const auth = await createLocalAuth({
    stateDir: join(dir, "state"),
    policyFile: join(dir, "access.yaml"),
    realm: `http://${host}/token`,
    service: "raas-test",
  });
  const tokenRoute = createTokenRoute(auth.tokens);
  server.on("request", (req, res) => {
    void (async () => {
      if (await tokenRoute(req, res)) return;
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      const headers = { "Docker-Distribution-API-Version": "registry/2.0" };
      if (path === "/v2/") {
        await auth.authorizer.authorizeBase(req);
        res.writeHead(200, { ...headers, "Content-Type": "application/json" }).end("{}");
        return;
      }
      const tags = /^\/v2\/(.+)\/tags\/list$/.exec(path);
      if (tags) {
        await auth.authorizer.authorize(req, tags[1] as string, "pull");
        res
          .writeHead(200, { ...headers, "Content-Type": "application/json" })
          .end(JSON.stringify({ name: tags[1], tags: ["v1"] }));
        return;
      }
      const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
      if (!m) {
        res.writeHead(404).end();
        return;
      }
      await auth.authorizer.authorize(req, m[1] as string, "pull");
      const body = m[2] === "manifests" ? manifest : config;
      const type =
        m[2] === "manifests" ? "application/vnd.oci.image.manifest.v1+json" : "application/octet-stream";
      const digest = m[2] === "manifests" ? manifestDigest : configDigest;
      res.writeHead(200, {
        ...headers,
        "Content-Type": type,
        "Content-Length": body.length,
        "Docker-Content-Digest": digest,
      });
      res.end(req.method === "HEAD" ? undefined : body);
    })().catch((err: unknown) => {
      if (!sendAuthError(req, res, err)) res.writeHead(500).end(String(err));
    });
  });
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

async function skopeo(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run("skopeo", args, { timeout: 60_000 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

const authfile = (name: string) => join(dir, `${name}.json`);
const login = (name: string, user: string, password: string) =>
  skopeo("login", "--tls-verify=false", "--authfile", authfile(name), "-u", user, "-p", password, host);
const inspect = (name: string | undefined, ref: string) =>
  skopeo(
    "inspect",
    "--tls-verify=false",
    "--retry-times",
    "0",
    ...(name === undefined ? ["--no-creds"] : ["--authfile", authfile(name)]),
    "--format",
    "{{.Digest}}",
    `docker://${host}/${ref}`,
  );

describe("skopeo against the token protocol", () => {
  it("wrong password: login fails with 401", async () => {
    const result = await login("bad", "alice", "not-her-password");
    expect(result.code).not.toBe(0);
    expect(result.out).toMatch(/invalid username\/password/i);
  });

  it("login, then pull a private image; another user's namespace is denied", async () => {
    expect((await login("alice", "alice", PASSWORDS.alice as string)).code).toBe(0);
    const own = await inspect("alice", "users/alice/tool:v1");
    expect(own.out.trim()).toBe(manifestDigest);
    const other = await inspect("alice", "users/bob/testimage:v1.0");
    expect(other.code).not.toBe(0);
    expect(other.out).toMatch(/denied/i);
  });

  it("a service login pulls its app and nothing under users/", async () => {
    expect((await login("svc", "node-17", SERVICE_TOKENS["node-17"] as string)).code).toBe(0);
    expect((await inspect("svc", "apps/bigdata/server:1.0")).out.trim()).toBe(manifestDigest);
    const users = await inspect("svc", "users/alice/tool:v1");
    expect(users.code).not.toBe(0);
    expect(users.out).toMatch(/denied/i);
  });

  it("anonymous pull of a public prefix works without login; a private one does not", async () => {
    expect((await inspect(undefined, "public/base:1")).out.trim()).toBe(manifestDigest);
    const priv = await inspect(undefined, "apps/bigdata/server:1.0");
    expect(priv.code).not.toBe(0);
    expect(priv.out).toMatch(/unauthorized|authentication required|401/i);
  });
});
