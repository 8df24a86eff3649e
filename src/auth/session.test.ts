import { decodeJwt, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { createVerifier, issueAccessToken, TokenInvalidError } from "./jwt.js";
import type { KeySet } from "./keys.js";
import { generateKeySet } from "./keys.js";
import { hashPassword } from "./passwords.js";
import { parsePolicy } from "./policy-file.js";
import type { Policy } from "./policy.js";
import { FailureLimiter } from "./rate-limit.js";
import { createSessionService, type SessionService } from "./session.js";
import { fixtureText, PASSWORDS, SERVICE_TOKENS, TEST_SCRYPT } from "./testing/policy-fixture.js";
import { createTokenService } from "./token-service.js";

const SERVICE = "registry.test";
const ISSUER = "raas-test";

let keys: KeySet;
let text: string;
let policy: Policy;
beforeAll(async () => {
  keys = await generateKeySet();
  text = await fixtureText();
  policy = parsePolicy(text);
});

function sessions(options: { now?: () => Date; ttlSeconds?: number; perIdentity?: FailureLimiter } = {}) {
  const tokens = createTokenService({
    policy: () => policy,
    keys,
    issuer: ISSUER,
    service: SERVICE,
    ...(options.perIdentity === undefined ? {} : { perIdentity: options.perIdentity }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const service: SessionService = createSessionService({
    keys,
    issuer: ISSUER,
    service: SERVICE,
    policy: () => policy,
    checkLogin: tokens.checkLogin,
    ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  return { tokens, service };
}

async function loggedIn(service: SessionService, user = "alice"): Promise<string> {
  const outcome = await service.login(user, PASSWORDS[user] as string, "10.0.0.1");
  if (!outcome.ok) throw new Error(`login of ${user} refused`);
  return outcome.session;
}

describe("web sessions", () => {
  it("logs a user in with the policy's password and knows the session again", async () => {
    const { service } = sessions();
    const outcome = await service.login("alice", PASSWORDS.alice as string, "10.0.0.1");
    expect(outcome).toMatchObject({ ok: true, identity: { kind: "user", name: "alice" }, maxAge: 3600 });
    const session = outcome.ok ? outcome.session : "";
    await expect(service.verify(session)).resolves.toEqual({ kind: "user", name: "alice" });
    const claims = decodeJwt(session);
    expect(claims).toMatchObject({ token_use: "session", sub: "alice", iss: ISSUER, aud: SERVICE });
    expect(JSON.stringify(claims)).not.toContain(PASSWORDS.alice);
    // A service login works the same way, with its token as the password.
    const svc = await service.login("node-17", SERVICE_TOKENS["node-17"] as string, "10.0.0.1");
    expect(svc).toMatchObject({ ok: true, identity: { kind: "service", name: "node-17" } });
  });

  it("answers a wrong password and an unknown user the same way", async () => {
    const { service } = sessions();
    const wrong = await service.login("alice", "not-her-password", "10.0.0.2");
    const unknown = await service.login("mallory", "whatever", "10.0.0.2");
    expect(wrong).toEqual({ ok: false });
    expect(unknown).toEqual(wrong);
    expect(await service.login("alice", "x".repeat(5000), "10.0.0.2")).toEqual({ ok: false });
    expect(await service.login("a".repeat(500), "x", "10.0.0.2")).toEqual({ ok: false });
  });

  it("counts failed logins in the token service's limiter, shared with docker login", async () => {
    const perIdentity = new FailureLimiter({ maxFailures: 3, windowMs: 60_000 });
    const { service, tokens } = sessions({ perIdentity });
    for (let i = 0; i < 2; i++) expect(await service.login("bob", "bad", "10.0.0.3")).toEqual({ ok: false });
    // The third failure comes through the registry's own Basic login.
    expect(await tokens.basicLogin("bob", "bad", "10.0.0.4")).toBeUndefined();
    const locked = await service.login("bob", PASSWORDS.bob as string, "10.0.0.3");
    expect(locked.ok).toBe(false);
    expect(!locked.ok && locked.retryAfter !== undefined && locked.retryAfter > 0).toBe(true);
    // Locked for the name, not for others.
    expect((await service.login("carol", PASSWORDS.carol as string, "10.0.0.3")).ok).toBe(true);
  });

  it("refuses sessions that are expired, tampered, foreign or not sessions at all", async () => {
    let now = new Date("2026-01-01T00:00:00Z");
    const { service } = sessions({ now: () => now, ttlSeconds: 600 });
    const session = await loggedIn(service);
    now = new Date(now.getTime() + 590_000);
    await expect(service.verify(session)).resolves.toEqual({ kind: "user", name: "alice" });
    now = new Date(now.getTime() + 600_000 + 61_000); // past expiry and the clock skew allowed
    await expect(service.verify(session)).resolves.toBeUndefined();
    now = new Date("2026-01-01T00:00:00Z");

    const [head, body, sig] = session.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(body, "base64url").toString()) as Record<string, unknown>;
    const forgedBody = Buffer.from(JSON.stringify({ ...claims, sub: "dave" })).toString("base64url");
    await expect(service.verify(`${head}.${forgedBody}.${sig}`)).resolves.toBeUndefined();
    await expect(service.verify(`${session}x`)).resolves.toBeUndefined();
    await expect(service.verify("")).resolves.toBeUndefined();
    await expect(service.verify("a.b")).resolves.toBeUndefined();
    await expect(service.verify(`${"a".repeat(5000)}.b.c`)).resolves.toBeUndefined();
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${body}.`;
    await expect(service.verify(none)).resolves.toBeUndefined();

    // Signed by another registry's key: unknown kid.
    const other = await generateKeySet();
    const foreign = await new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", kid: other.current.kid })
      .sign(other.current.privateKey);
    await expect(service.verify(foreign)).resolves.toBeUndefined();

    // A registry access token is no session, and a session is no access token.
    const access = await issueAccessToken(
      keys,
      { issuer: ISSUER, service: SERVICE, now },
      { kind: "user", name: "alice" },
      [],
    );
    await expect(service.verify(access.token)).resolves.toBeUndefined();
    const verifier = createVerifier({ keys, issuer: ISSUER, service: SERVICE });
    await expect(verifier(session, "access", now)).rejects.toThrow(TokenInvalidError);
    await expect(verifier(session, "access", now)).rejects.toThrow(/not an access token/);
  });

  it("ends every session of a user whose password changes or who is removed", async () => {
    const { service } = sessions();
    const session = await loggedIn(service, "bob");
    const saved = policy;
    try {
      const newHash = await hashPassword("bob-new-secret", TEST_SCRYPT);
      // A function, not a replacement string: a "$1" inside the random hash would be read as a group.
      policy = parsePolicy(
        text.replace(/(bob: \{ id: "1002", password: ")[^"]+/, (_m, head: string) => head + newHash),
      );
      await expect(service.verify(session)).resolves.toBeUndefined();
      policy = parsePolicy(text.replace(/ {2}bob: \{[^\n]*\n/, "").replace(/alice, bob, rel/, "alice, rel"));
      await expect(service.verify(session)).resolves.toBeUndefined();
      policy = saved;
      await expect(service.verify(session)).resolves.toEqual({ kind: "user", name: "bob" });
    } finally {
      policy = saved;
    }
  });
});
