/**
 * `[auth] mode = external` through the real server: a token server started here (its own root CA
 * and RS256 signing certificate, made with the openssl CLI) issues tokens; the registry trusts
 * them through `root_certs`, and skopeo logs in at the external realm and pulls. Forged tokens
 * (another root, `alg: none`, tampered claims) are refused.
 */
import { execFile } from "node:child_process";
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { base64url, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImages, makeAppRepo, publish, type AppRepo } from "../../src/server/testing/fixture.js";
import { freePort, MAIN, ServerProcess } from "../helpers/server-process.js";

const run = promisify(execFile);
const SERVICE = "raas-ext";
const ISSUER = "collector";

interface Signer {
  key: KeyObject;
  certDer: string;
}

let dir: string;
let tokenServer: Server;
let realm: string;
let signer: Signer;
let rogue: Signer;
let repo: AppRepo;
let registry: ServerProcess;
let host: string;

async function makeCa(name: string): Promise<{ root: string; signer: Signer }> {
  const openssl = (...args: string[]) => run("openssl", args, { cwd: dir });
  await openssl(
    ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}-root.key`],
    ...["-out", `${name}-root.pem`, "-days", "2", "-subj", `/CN=${name} root`],
    ...["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
  );
  await openssl(
    ...["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}-leaf.key`],
    ...["-out", `${name}-leaf.csr`, "-subj", `/CN=${name} token signer`],
  );
  await openssl(
    ...["x509", "-req", "-in", `${name}-leaf.csr`, "-CA", `${name}-root.pem`, "-CAkey", `${name}-root.key`],
    ...["-CAcreateserial", "-out", `${name}-leaf.pem`, "-days", "1"],
  );
  const leaf = new X509Certificate(await readFile(join(dir, `${name}-leaf.pem`)));
  return {
    root: await readFile(join(dir, `${name}-root.pem`), "utf8"),
    signer: {
      key: createPrivateKey(await readFile(join(dir, `${name}-leaf.key`))),
      certDer: leaf.raw.toString("base64"),
    },
  };
}

const sign = (by: Signer, access: unknown[], subject = "ext-user") =>
  new SignJWT({ access })
    .setProtectedHeader({ alg: "RS256", x5c: [by.certDer] })
    .setIssuer(ISSUER)
    .setAudience(SERVICE)
    .setSubject(subject)
    .setIssuedAt()
    .setNotBefore("0s")
    .setExpirationTime("5m")
    .sign(by.key);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-ext-wire-"));
  const trusted = await makeCa("trusted");
  signer = trusted.signer;
  rogue = (await makeCa("attacker")).signer;
  await writeFile(join(dir, "roots.pem"), trusted.root);
  // The collector: user "ext" (password "pw") may pull users/ext/*, nothing else.
  tokenServer = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.headers.authorization !== `Basic ${Buffer.from("ext:pw").toString("base64")}`) {
      res.writeHead(401).end();
      return;
    }
    const access = url.searchParams
      .getAll("scope")
      .map((s) => s.split(":"))
      .filter(([type, name]) => type === "repository" && name?.startsWith("users/ext/") === true)
      .map(([type, name]) => ({ type, name, actions: ["pull"] }));
    void sign(signer, access).then((token) =>
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token })),
    );
  });
  await new Promise<void>((resolve) => tokenServer.listen(0, "127.0.0.1", resolve));
  realm = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;

  const port = await freePort();
  host = `127.0.0.1:${port}`;
  repo = await makeAppRepo(() =>
    [
      "[general]\ndata_dir = data\n[serve_content]\nenable = true\ncontent_dir_v1 = content/v1",
      "content_dir_v2 = content/v2\nuse_x_sendfile = false\n[raas]\nmanifest_dir = manifests",
      `[auth]\nmode = external\nrealm = ${realm}\nservice = ${SERVICE}\nissuer = ${ISSUER}`,
      `root_certs = ${join(dir, "roots.pem")}\n`,
    ].join("\n"),
  );
  for (const name of ["users/ext/tool", "users/other/tool"]) {
    await publish(
      repo,
      `${name.replaceAll("/", "-")}.json`,
      buildImages(name, name.replaceAll("/", "-"), name),
    );
  }
  registry = new ServerProcess(repo.configPath, port, { RAAS_WORKERS: "1" });
  await registry.waitFor("listening line", (e) => e.event === "listening");
}, 60_000);

afterAll(async () => {
  await registry?.stop();
  await new Promise((resolve) => tokenServer?.close(resolve));
  await repo?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

const manifest = (name: string, token?: string) =>
  fetch(`http://${host}/v2/${name}/manifests/1.0`, {
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
  });

describe.runIf(existsSync(MAIN))("[auth] mode = external through the real server", () => {
  it("challenges with the external realm, and skopeo logs in there and pulls", async () => {
    const anon = await manifest("users/ext/tool");
    expect(anon.status).toBe(401);
    expect(anon.headers.get("www-authenticate")).toBe(
      `Bearer realm="${realm}",service="${SERVICE}",scope="repository:users/ext/tool:pull"`,
    );
    const authfile = join(dir, "auth.json");
    const skopeo = (...args: string[]) =>
      run("skopeo", args, { timeout: 60_000 }).then(
        (r) => ({ code: 0, out: r.stdout + r.stderr }),
        (e: { code?: number; stdout?: string; stderr?: string }) => ({
          code: e.code ?? 1,
          out: `${e.stdout ?? ""}${e.stderr ?? ""}`,
        }),
      );
    const login = await skopeo(
      "login",
      "--tls-verify=false",
      "--authfile",
      authfile,
      "-u",
      "ext",
      "-p",
      "pw",
      host,
    );
    expect(login.code, login.out).toBe(0);
    const copy = await skopeo(
      ...["copy", "--src-tls-verify=false", "--retry-times", "0", "--src-authfile", authfile],
      ...[`docker://${host}/users/ext/tool:1.0`, `dir:${join(dir, "pulled")}`],
    );
    expect(copy.code, copy.out).toBe(0);
    expect(existsSync(join(dir, "pulled", "manifest.json"))).toBe(true);
    const other = await skopeo(
      ...["inspect", "--tls-verify=false", "--retry-times", "0", "--authfile", authfile],
      `docker://${host}/users/other/tool:1.0`,
    );
    expect(other.code).not.toBe(0);
  });

  it("accepts a token from the external issuer for exactly its access claim", async () => {
    const token = await sign(signer, [{ type: "repository", name: "users/ext/tool", actions: ["pull"] }]);
    expect((await manifest("users/ext/tool", token)).status).toBe(200);
    const other = await manifest("users/other/tool", token);
    expect(other.status).toBe(401);
    expect(other.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
  });

  it("refuses forged tokens: another root, alg none, tampered claims", async () => {
    const grant = [{ type: "repository", name: "users/other/tool", actions: ["pull"] }];
    const forged = await sign(rogue, grant);
    const res = await manifest("users/other/tool", forged);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');

    const [header, ,] = (await sign(signer, [])).split(".");
    const none = `${base64url.encode(JSON.stringify({ alg: "none" }))}.${base64url.encode(
      JSON.stringify({ iss: ISSUER, aud: SERVICE, sub: "x", exp: 4e9, access: grant }),
    )}.`;
    expect((await manifest("users/other/tool", none)).status).toBe(401);

    const genuine = await sign(signer, [{ type: "repository", name: "users/ext/tool", actions: ["pull"] }]);
    const [, payload, signature] = genuine.split(".");
    const claims = JSON.parse(Buffer.from(payload ?? "", "base64url").toString()) as Record<string, unknown>;
    const tampered = `${header}.${base64url.encode(JSON.stringify({ ...claims, access: grant }))}.${signature}`;
    expect((await manifest("users/other/tool", tampered)).status).toBe(401);
  });
});
