/**
 * External issuer mode against a small token server started by the test: it has its own root CA
 * and signing certificate (made with the openssl CLI) and signs RS256 tokens carrying x5c.
 */
import { execFile } from "node:child_process";
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base64url, exportJWK, generateKeyPair, SignJWT } from "jose";
import { createAuthorizer } from "./authorize.js";
import { RegistryAuthError } from "./errors.js";
import { createExternalVerifier } from "./external.js";
import { TokenInvalidError } from "./jwt.js";

const run = promisify(execFile);
const SERVICE = "registry.test";
const ISSUER = "keystone-token-server";

interface Signer {
  key: KeyObject;
  certDer: string;
}

let dir: string;
let rootPem: string;
let signer: Signer;
let rogue: Signer;
let server: Server;
let realm: string;

async function openssl(...args: string[]) {
  await run("openssl", args, { cwd: dir });
}

async function makeCa(name: string) {
  await openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    `${name}-root.key`,
    "-out",
    `${name}-root.pem`,
    "-days",
    "2",
    "-subj",
    `/CN=${name} root`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  );
  await openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    `${name}-leaf.key`,
    "-out",
    `${name}-leaf.csr`,
    "-subj",
    `/CN=${name} token signer`,
  );
  await openssl(
    "x509",
    "-req",
    "-in",
    `${name}-leaf.csr`,
    "-CA",
    `${name}-root.pem`,
    "-CAkey",
    `${name}-root.key`,
    "-CAcreateserial",
    "-out",
    `${name}-leaf.pem`,
    "-days",
    "1",
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

function sign(by: Signer, claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", x5c: [by.certDer], ...header })
    .setIssuer(ISSUER)
    .setAudience(SERVICE)
    .setSubject("ext-user")
    .setIssuedAt()
    .setNotBefore("0s")
    .setExpirationTime("5m")
    .sign(by.key);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-ext-"));
  const trusted = await makeCa("trusted");
  const attacker = await makeCa("attacker");
  rootPem = trusted.root;
  signer = trusted.signer;
  rogue = attacker.signer;
  // The external token server: grants whatever is asked for pull, to user "ext" only.
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const ok = req.headers.authorization === `Basic ${Buffer.from("ext:pw").toString("base64")}`;
    if (!ok) {
      res.writeHead(401).end();
      return;
    }
    const access = url.searchParams.getAll("scope").map((s) => {
      const [type, name] = s.split(":");
      return { type, name, actions: ["pull"] };
    });
    void sign(signer, { access }).then((token) => {
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

async function fetchToken(scope: string): Promise<string> {
  const res = await fetch(`${realm}?service=${SERVICE}&scope=${encodeURIComponent(scope)}`, {
    headers: { authorization: `Basic ${Buffer.from("ext:pw").toString("base64")}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

const verifier = () =>
  createExternalVerifier({ realm, service: SERVICE, issuer: ISSUER, rootCertBundle: rootPem });

async function refused(token: string, reason: RegExp, verify = verifier()) {
  const err = await verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenInvalidError);
  expect((err as TokenInvalidError).reason).toMatch(reason);
}

describe("external issuer (root certificate bundle, x5c)", () => {
  it("accepts tokens from the external server and authorizes by their access claim", async () => {
    const token = await fetchToken("repository:apps/bigdata/server:pull");
    await expect(verifier()(token)).resolves.toMatchObject({ kind: "external", subject: "ext-user" });
    const auth = createAuthorizer({ realm, service: SERVICE, verify: verifier() });
    const headers = { authorization: `Bearer ${token}` };
    await expect(auth.authorize({ headers }, "apps/bigdata/server", "pull")).resolves.toMatchObject({
      caller: { kind: "external", name: "ext-user" },
    });
    const err = await auth.authorize({ headers }, "apps/bigdata/server", "push").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryAuthError);
    expect((err as RegistryAuthError).headers["WWW-Authenticate"]).toBe(
      `Bearer realm="${realm}",service="${SERVICE}",scope="repository:apps/bigdata/server:pull,push",error="insufficient_scope"`,
    );
    const anon = await auth
      .authorize({ headers: {} }, "apps/bigdata/server", "pull")
      .catch((e: unknown) => e);
    expect((anon as RegistryAuthError).status).toBe(401);
  });

  it("refuses a token signed by a certificate from another root", async () => {
    await refused(await sign(rogue, { access: [] }), /not trusted/);
  });

  it("refuses our signer's certificate with someone else's signature", async () => {
    await refused(await sign(rogue, { access: [] }, { x5c: [signer.certDer] }), /bad signature/);
  });

  it("refuses a chain with the trusted root certificate appended to a rogue leaf", async () => {
    const rootDer = new X509Certificate(rootPem).raw.toString("base64");
    await refused(await sign(rogue, { access: [] }, { x5c: [rogue.certDer, rootDer] }), /broken x5c chain/);
  });

  it("refuses HS256 signed with the signer's public key, and alg none", async () => {
    const pub = new X509Certificate(Buffer.from(signer.certDer, "base64")).publicKey.export({
      type: "spki",
      format: "pem",
    });
    const hs = await new SignJWT({ access: [] })
      .setProtectedHeader({ alg: "HS256", x5c: [signer.certDer] })
      .setIssuer(ISSUER)
      .setAudience(SERVICE)
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(String(pub)));
    await refused(hs, /algorithm not allowed/);
    const good = await fetchToken("repository:a/b:pull");
    const [, payload] = good.split(".");
    await refused(
      `${base64url.encode(JSON.stringify({ alg: "none", x5c: [signer.certDer] }))}.${payload}.`,
      /algorithm not allowed/,
    );
  });

  it("refuses wrong issuer, wrong audience, expiry and tampering", async () => {
    await refused(
      await new SignJWT({})
        .setProtectedHeader({ alg: "RS256", x5c: [signer.certDer] })
        .setIssuer("someone")
        .setAudience(SERVICE)
        .setExpirationTime("5m")
        .sign(signer.key),
      /iss/,
    );
    await refused(
      await new SignJWT({})
        .setProtectedHeader({ alg: "RS256", x5c: [signer.certDer] })
        .setIssuer(ISSUER)
        .setAudience("other")
        .setExpirationTime("5m")
        .sign(signer.key),
      /aud/,
    );
    await refused(
      await new SignJWT({})
        .setProtectedHeader({ alg: "RS256", x5c: [signer.certDer] })
        .setIssuer(ISSUER)
        .setAudience(SERVICE)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 600)
        .sign(signer.key),
      /expired/,
    );
    const token = await fetchToken("repository:a/b:pull");
    const [h, , s] = token.split(".");
    const widened = base64url.encode(
      JSON.stringify({
        iss: ISSUER,
        aud: SERVICE,
        exp: Math.floor(Date.now() / 1000) + 300,
        access: [{ type: "repository", name: "a/b", actions: ["push"] }],
      }),
    );
    await refused(`${h}.${widened}.${s}`, /bad signature/);
  });

  it("refuses configurations that would allow HMAC or trust nothing", () => {
    expect(() =>
      createExternalVerifier({
        realm,
        service: SERVICE,
        issuer: ISSUER,
        rootCertBundle: rootPem,
        algorithms: ["HS256"],
      }),
    ).toThrow(/not allowed/);
    expect(() => createExternalVerifier({ realm, service: SERVICE, issuer: ISSUER })).toThrow(
      /root certificate bundle or a JWKS/,
    );
    expect(() =>
      createExternalVerifier({ realm, service: SERVICE, issuer: ISSUER, rootCertBundle: "nothing" }),
    ).toThrow(/no certificate/);
  });
});

describe("external issuer (JWKS)", () => {
  it("verifies by kid against the JWKS and refuses unknown kids and mismatched algorithms", async () => {
    const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
    const verify = createExternalVerifier({ realm, service: SERVICE, issuer: ISSUER, jwks: { keys: [jwk] } });
    const make = (kid: string, key = privateKey) =>
      new SignJWT({ access: [{ type: "repository", name: "a/b", actions: ["pull"] }] })
        .setProtectedHeader({ alg: "RS256", kid })
        .setIssuer(ISSUER)
        .setAudience(SERVICE)
        .setSubject("svc")
        .setExpirationTime("5m")
        .sign(key);
    await expect(verify(await make("k1"))).resolves.toMatchObject({
      subject: "svc",
      access: [{ name: "a/b" }],
    });
    await refused(await make("k2"), /unknown key id/, verify);
    const other = await generateKeyPair("RS256");
    await refused(await make("k1", other.privateKey), /bad signature/, verify);
    const ec = await generateKeyPair("ES256");
    const es = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setIssuer(ISSUER)
      .setAudience(SERVICE)
      .setExpirationTime("5m")
      .sign(ec.privateKey);
    await refused(es, /unknown key id|algorithm/, verify);
  });
});
