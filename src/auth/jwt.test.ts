import { mkdtemp, readFile, rm, stat, chmod, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base64url, exportSPKI, SignJWT, generateKeyPair, exportJWK } from "jose";
import type { KeySet } from "./keys.js";
import { ensureKeys, generateKeySet, KEY_FILE, loadKeys, rotateKeys } from "./keys.js";
import type { AccessEntry } from "./jwt.js";
import { createVerifier, issueAccessToken, issueRefreshToken, TokenInvalidError } from "./jwt.js";

const ISSUER = "raas-test";
const SERVICE = "registry.test";
const ACCESS: AccessEntry[] = [{ type: "repository", name: "apps/bigdata/server", actions: ["pull"] }];

let keys: KeySet;
let dir: string;
beforeAll(async () => {
  keys = await generateKeySet();
  dir = await mkdtemp(join(tmpdir(), "raas-keys-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const opts = { issuer: ISSUER, service: SERVICE };
const verifier = () => createVerifier({ keys, issuer: ISSUER, service: SERVICE });

async function reject(token: string, reason: RegExp, use: "access" | "refresh" = "access", now?: Date) {
  const err = await verifier()(token, use, now).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenInvalidError);
  expect((err as TokenInvalidError).reason).toMatch(reason);
  if (token.length > 10) expect((err as Error).message).not.toContain(token);
}

function parts(token: string): [Record<string, unknown>, Record<string, unknown>, string] {
  const [h, p, s] = token.split(".") as [string, string, string];
  const dec = (x: string) =>
    JSON.parse(new TextDecoder().decode(base64url.decode(x))) as Record<string, unknown>;
  return [dec(h), dec(p), s];
}
const enc = (o: unknown) => base64url.encode(JSON.stringify(o));

describe("access tokens", () => {
  it("carry iss, aud = service, exp/nbf, kid = thumbprint and the Docker access claim", async () => {
    const { token, expiresIn } = await issueAccessToken(keys, opts, { kind: "user", name: "alice" }, ACCESS);
    const [header, payload] = parts(token);
    expect(header).toEqual({ alg: "ES256", kid: keys.current.kid, typ: "JWT" });
    expect(keys.current.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(payload).toMatchObject({ iss: ISSUER, aud: SERVICE, sub: "alice", access: ACCESS });
    expect((payload.exp as number) - (payload.nbf as number)).toBe(expiresIn);
    const verified = await verifier()(token);
    expect(verified).toMatchObject({ subject: "alice", kind: "user", access: ACCESS });
  });

  it("rejects alg none", async () => {
    const { token } = await issueAccessToken(keys, opts, { kind: "user", name: "alice" }, ACCESS);
    const [header, payload] = parts(token);
    await reject(`${enc({ ...header, alg: "none" })}.${enc(payload)}.`, /algorithm|malformed|unverifiable/);
  });

  it("rejects HS256 signed with our public key (key confusion)", async () => {
    const { token } = await issueAccessToken(keys, opts, { kind: "user", name: "alice" }, ACCESS);
    const [, payload] = parts(token);
    const pem = await exportSPKI(keys.current.publicKey);
    for (const secret of [
      new TextEncoder().encode(pem),
      new TextEncoder().encode(JSON.stringify(keys.current.publicJwk)),
    ]) {
      const forged = await new SignJWT(payload)
        .setProtectedHeader({ alg: "HS256", kid: keys.current.kid })
        .sign(secret);
      await reject(forged, /algorithm not allowed/);
    }
  });

  it("rejects an RS256 token whose kid names our key", async () => {
    const rsa = await generateKeyPair("RS256");
    const forged = await new SignJWT({ access: ACCESS, token_use: "access", raas_kind: "user" })
      .setProtectedHeader({ alg: "RS256", kid: keys.current.kid })
      .setIssuer(ISSUER)
      .setAudience(SERVICE)
      .setSubject("alice")
      .setIssuedAt()
      .setNotBefore("0s")
      .setExpirationTime("5m")
      .sign(rsa.privateKey);
    await reject(forged, /algorithm not allowed/);
  });

  it("rejects expired and not-yet-valid tokens beyond the leeway, accepts within it", async () => {
    const past = new Date(Date.now() - 3600_000);
    const { token: old } = await issueAccessToken(
      keys,
      { ...opts, now: past, ttlSeconds: 300 },
      { kind: "user", name: "a" },
      ACCESS,
    );
    await reject(old, /expired/);
    const future = new Date(Date.now() + 3600_000);
    const { token: early } = await issueAccessToken(
      keys,
      { ...opts, now: future },
      { kind: "user", name: "a" },
      ACCESS,
    );
    await reject(early, /nbf/);
    const skewed = new Date(Date.now() + 30_000);
    const { token: slight } = await issueAccessToken(
      keys,
      { ...opts, now: skewed },
      { kind: "user", name: "a" },
      ACCESS,
    );
    await expect(verifier()(slight)).resolves.toMatchObject({ subject: "a" });
  });

  it("rejects wrong audience and wrong issuer", async () => {
    const { token: aud } = await issueAccessToken(
      keys,
      { ...opts, service: "other.registry" },
      { kind: "user", name: "a" },
      ACCESS,
    );
    await reject(aud, /aud/);
    const { token: iss } = await issueAccessToken(
      keys,
      { ...opts, issuer: "someone-else" },
      { kind: "user", name: "a" },
      ACCESS,
    );
    await reject(iss, /iss/);
  });

  it("rejects tampered claims and a tampered header", async () => {
    const { token } = await issueAccessToken(keys, opts, { kind: "user", name: "alice" }, ACCESS);
    const [header, payload, sig] = parts(token);
    const widened = { ...payload, access: [{ type: "repository", name: "users/bob/x", actions: ["push"] }] };
    await reject(`${enc(header)}.${enc(widened)}.${sig}`, /bad signature/);
    await reject(`${enc(header)}.${enc({ ...payload, sub: "bob" })}.${sig}`, /bad signature/);
    await reject(`${enc({ ...header, typ: "at+jwt" })}.${token.split(".")[1]}.${sig}`, /bad signature/);
  });

  it("rejects an unknown kid and a missing kid", async () => {
    const stranger = await generateKeySet();
    const { token } = await issueAccessToken(stranger, opts, { kind: "user", name: "alice" }, ACCESS);
    await reject(token, /unknown key id/);
    const [, payload] = parts(token);
    const noKid = await new SignJWT(payload)
      .setProtectedHeader({ alg: "ES256" })
      .sign(keys.current.privateKey);
    await reject(noKid, /unknown key id/);
  });

  it("rejects a token that embeds its own key (jwk header) signed by a stranger", async () => {
    const stranger = await generateKeyPair("ES256", { extractable: true });
    const jwk = await exportJWK(stranger.publicKey);
    const { token } = await issueAccessToken(keys, opts, { kind: "user", name: "alice" }, ACCESS);
    const [, payload] = parts(token);
    const forged = await new SignJWT(payload)
      .setProtectedHeader({ alg: "ES256", jwk, kid: "attacker" })
      .sign(stranger.privateKey);
    await reject(forged, /unknown key id/);
  });

  it("keeps access and refresh tokens apart, and rejects garbage", async () => {
    const refresh = await issueRefreshToken(keys, opts, { kind: "user", name: "alice" }, "stamp", "docker");
    await reject(refresh.token, /not an access token/);
    const access = await issueAccessToken(keys, opts, { kind: "user", name: "alice" }, ACCESS);
    await reject(access.token, /not a refresh token/, "refresh");
    await expect(verifier()(refresh.token, "refresh")).resolves.toMatchObject({ subject: "alice" });
    await reject("not.a.token", /malformed|unverifiable/);
    await reject("x".repeat(20_000), /too long/);
    await reject("", /malformed|unverifiable/);
  });

  it("rejects an oversized access claim", async () => {
    const many = Array.from({ length: 100 }, (_, i) => ({
      type: "repository",
      name: `r${i}`,
      actions: ["pull"],
    }));
    const { token } = await issueAccessToken(keys, opts, { kind: "user", name: "alice" }, many);
    await reject(token, /malformed access claim/);
  });
});

describe("key storage and rotation", () => {
  it("generates once into a 0600 file and loads the same key again", async () => {
    const first = await ensureKeys(dir);
    const info = await stat(join(dir, KEY_FILE));
    expect(info.mode & 0o777).toBe(0o600);
    const again = await ensureKeys(dir);
    expect(again.current.kid).toBe(first.current.kid);
    expect(await readFile(join(dir, KEY_FILE), "utf8")).toContain(first.current.kid);
  });

  it("refuses a key file others can read", async () => {
    const other = await mkdtemp(join(tmpdir(), "raas-keys-"));
    try {
      await ensureKeys(other);
      await chmod(join(other, KEY_FILE), 0o644);
      await expect(loadKeys(other)).rejects.toThrow(/readable by other users/);
      await chmod(join(other, KEY_FILE), 0o600);
      await writeFile(join(other, KEY_FILE), '{"version":1,"keys":[]}', { mode: 0o600 });
      await expect(loadKeys(other)).rejects.toThrow(/not a raas key file/);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it("rotation keeps the previous key valid, and a second rotation retires it", async () => {
    const before = await ensureKeys(dir);
    const oldToken = (await issueAccessToken(before, opts, { kind: "user", name: "a" }, ACCESS)).token;
    const rotated = await rotateKeys(dir);
    expect(rotated.previous?.kid).toBe(before.current.kid);
    expect(rotated.current.kid).not.toBe(before.current.kid);
    const newToken = (await issueAccessToken(rotated, opts, { kind: "user", name: "a" }, ACCESS)).token;
    const verify = createVerifier({ keys: (await loadKeys(dir))!, issuer: ISSUER, service: SERVICE });
    await expect(verify(oldToken)).resolves.toMatchObject({ subject: "a" });
    await expect(verify(newToken)).resolves.toMatchObject({ subject: "a" });
    await rotateKeys(dir);
    const verifyLater = createVerifier({ keys: (await loadKeys(dir))!, issuer: ISSUER, service: SERVICE });
    await expect(verifyLater(oldToken)).rejects.toThrow(/unknown key id/);
    await expect(verifyLater(newToken)).resolves.toMatchObject({ subject: "a" });
    expect((await stat(join(dir, KEY_FILE))).mode & 0o777).toBe(0o600);
  });
});
