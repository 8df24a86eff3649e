import { beforeAll, describe, expect, it } from "vitest";
import type { Authorizer } from "./authorize.js";
import { createAuthorizer } from "./authorize.js";
import { RegistryAuthError } from "./errors.js";
import type { Verifier } from "./jwt.js";
import { createVerifier, issueAccessToken } from "./jwt.js";
import type { KeySet } from "./keys.js";
import { generateKeySet } from "./keys.js";
import type { Policy } from "./policy.js";
import type { TokenService } from "./token-service.js";
import { createTokenService } from "./token-service.js";
import { FailureLimiter } from "./rate-limit.js";
import { TokenCache } from "./token-cache.js";
import { fixturePolicy, PASSWORDS, SERVICE_TOKENS } from "./testing/policy-fixture.js";

const SERVICE = "registry.test";
const ISSUER = "raas-test";
const REALM = "https://registry.test/token";

let keys: KeySet;
let policy: Policy;
let tokens: TokenService;
let verifyCalls = 0;
let auth: Authorizer;

beforeAll(async () => {
  keys = await generateKeySet();
  policy = await fixturePolicy();
  tokens = createTokenService({ policy: () => policy, keys, issuer: ISSUER, service: SERVICE });
  const verify = createVerifier({ keys, issuer: ISSUER, service: SERVICE });
  const counting: Verifier = (token, use, now) => {
    verifyCalls++;
    return verify(token, use, now);
  };
  auth = createAuthorizer({ realm: REALM, service: SERVICE, verify: counting, policy: () => policy });
});

async function tokenFor(user: string | undefined, ...scope: string[]): Promise<string> {
  const secret = user === undefined ? undefined : (PASSWORDS[user] ?? SERVICE_TOKENS[user]);
  const headers =
    secret === undefined
      ? {}
      : { authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString("base64")}` };
  const query = scope.map((s) => `scope=${encodeURIComponent(s)}`).join("&");
  const res = await tokens.handle({
    method: "GET",
    url: `/token?service=${SERVICE}&${query}`,
    headers,
    remoteAddress: "127.0.0.1",
  });
  expect(res.status).toBe(200);
  return (JSON.parse(res.body) as { token: string }).token;
}

const withToken = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const none = { headers: {} };

async function failure(promise: Promise<unknown>): Promise<RegistryAuthError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryAuthError);
  return err as RegistryAuthError;
}

describe("authorize", () => {
  it("anonymous pulls of public prefixes need no token; private ones get the challenge", async () => {
    await expect(auth.authorize(none, "public/base", "pull")).resolves.toMatchObject({
      caller: { kind: "anonymous" },
      token: false,
    });
    const err = await failure(auth.authorize(none, "apps/bigdata/server", "pull"));
    expect(err.status).toBe(401);
    expect(err.code).toBe("UNAUTHORIZED");
    expect(err.headers["WWW-Authenticate"]).toBe(
      `Bearer realm="${REALM}",service="${SERVICE}",scope="repository:apps/bigdata/server:pull"`,
    );
    const push = await failure(auth.authorize(none, "public/base", "push"));
    expect(push.headers["WWW-Authenticate"]).toContain('scope="repository:public/base:pull,push"');
    const body = JSON.parse(push.toResponse().body) as { errors: { code: string; detail: unknown }[] };
    expect(body.errors[0]).toMatchObject({
      code: "UNAUTHORIZED",
      detail: [{ Type: "repository", Name: "public/base", Action: "pull,push" }],
    });
  });

  it("a user's token opens their own namespace; another user's namespace is DENIED (403)", async () => {
    const token = await tokenFor(
      "alice",
      "repository:users/alice/tool:pull,push",
      "repository:users/bob/testimage:pull,push",
    );
    await expect(auth.authorize(withToken(token), "users/alice/tool", "push", "v1")).resolves.toMatchObject({
      caller: { kind: "user", name: "alice" },
    });
    const err = await failure(auth.authorize(withToken(token), "users/bob/testimage", "push", "v1.0"));
    expect(err.status).toBe(403);
    expect(JSON.parse(err.toResponse().body)).toEqual({
      errors: [
        {
          code: "DENIED",
          message: "requested access to the resource is denied",
          detail: [{ Type: "repository", Name: "users/bob/testimage", Action: "push" }],
        },
      ],
    });
    const pull = await failure(auth.authorize(withToken(token), "users/bob/testimage", "pull"));
    expect(pull.status).toBe(403);
  });

  it("a token without a scope the policy would allow gets insufficient_scope, so the client asks again", async () => {
    const token = await tokenFor("alice", "repository:users/alice/tool:pull");
    const err = await failure(auth.authorize(withToken(token), "apps/bigdata/server", "pull"));
    expect(err.status).toBe(401);
    expect(err.headers["WWW-Authenticate"]).toContain('error="insufficient_scope"');
    const anon = await tokenFor(undefined, "repository:public/base:pull");
    const anonErr = await failure(auth.authorize(withToken(anon), "users/bob/x", "pull"));
    expect(anonErr.status).toBe(401);
  });

  it("tag rules apply when the manifest is pushed", async () => {
    const token = await tokenFor("alice", "repository:apps/bigdata/server:pull,push");
    await expect(
      auth.authorize(withToken(token), "apps/bigdata/server", "push", "dev-3"),
    ).resolves.toBeDefined();
    const byTag = await failure(auth.authorize(withToken(token), "apps/bigdata/server", "push", "v1.0"));
    expect(byTag.status).toBe(403);
    // The denial names the tag (not the rule or its groups), so the pusher knows what was refused.
    expect(JSON.parse(byTag.toResponse().body)).toEqual({
      errors: [
        {
          code: "DENIED",
          message: "push of tag v1.0 in apps/bigdata/server is refused by a tag rule of the access policy",
          detail: [{ Type: "repository", Name: "apps/bigdata/server", Action: "push", Tag: "v1.0" }],
        },
      ],
    });
    expect(
      (await failure(auth.authorize(withToken(token), "apps/bigdata/server", "promote", "latest"))).status,
    ).toBe(403);
    const rel = await tokenFor("rel", "repository:apps/bigdata/server:pull,push");
    await expect(
      auth.authorize(withToken(rel), "apps/bigdata/server", "promote", "latest"),
    ).resolves.toBeDefined();
  });

  it("a service login pulls its app and is denied users/", async () => {
    const token = await tokenFor(
      "node-17",
      "repository:apps/bigdata/server:pull",
      "repository:users/alice/x:pull",
    );
    await expect(auth.authorize(withToken(token), "apps/bigdata/server", "pull")).resolves.toMatchObject({
      caller: { kind: "service", name: "node-17" },
    });
    expect((await failure(auth.authorize(withToken(token), "users/alice/x", "pull"))).status).toBe(403);
    expect(
      (await failure(auth.authorize(withToken(token), "apps/bigdata/server", "push", "dev"))).status,
    ).toBe(403);
  });

  it("bad, expired and foreign tokens are invalid_token challenges", async () => {
    for (const header of ["Bearer not-a-jwt", "Bearer", "Bearer a b", "Digest x"]) {
      const err = await failure(
        auth.authorize({ headers: { authorization: header } }, "public/base", "pull"),
      );
      expect(err.status).toBe(401);
      expect(err.headers["WWW-Authenticate"]).toContain('error="invalid_token"');
    }
    const old = await issueAccessToken(
      keys,
      { issuer: ISSUER, service: SERVICE, now: new Date(Date.now() - 3600_000) },
      { kind: "user", name: "alice" },
      [{ type: "repository", name: "users/alice/tool", actions: ["pull"] }],
    );
    expect(
      (await failure(auth.authorize(withToken(old.token), "users/alice/tool", "pull"))).headers[
        "WWW-Authenticate"
      ],
    ).toContain("invalid_token");
    const foreign = await issueAccessToken(
      await generateKeySet(),
      { issuer: ISSUER, service: SERVICE },
      { kind: "user", name: "alice" },
      [{ type: "repository", name: "users/alice/tool", actions: ["pull"] }],
    );
    expect((await failure(auth.authorize(withToken(foreign.token), "users/alice/tool", "pull"))).status).toBe(
      401,
    );
  });

  it("verifies a token once and serves repeats from the bounded cache", async () => {
    const token = await tokenFor("carol", "repository:apps/bigdata/server:pull");
    const before = verifyCalls;
    for (let i = 0; i < 50; i++) await auth.authorize(withToken(token), "apps/bigdata/server", "pull");
    expect(verifyCalls - before).toBe(1);
  });

  it("GET /v2/ needs a valid token (so login checks credentials); catalog is filtered by canPull", async () => {
    const err = await failure(auth.authorizeBase(none));
    expect(err.headers["WWW-Authenticate"]).toBe(`Bearer realm="${REALM}",service="${SERVICE}"`);
    const anon = await tokenFor(undefined);
    await expect(auth.authorizeBase(withToken(anon))).resolves.toMatchObject({
      caller: { kind: "anonymous" },
    });
    const catalog = await tokenFor("carol", "registry:catalog:*");
    const ctx = await auth.authorizeCatalog(withToken(catalog));
    const visible = [
      "apps/bigdata/server",
      "users/alice/x",
      "public/base",
      "tools/builder",
      "groups/devs/lib",
    ].filter((r) => auth.canPull(ctx, r));
    expect(visible).toEqual(["apps/bigdata/server", "public/base", "tools/builder"]);
    const anonCtx = await auth.authorizeCatalog(none);
    expect(["apps/bigdata/server", "public/base"].filter((r) => auth.canPull(anonCtx, r))).toEqual([
      "public/base",
    ]);
  });

  it("HTTP Basic straight on registry requests, when enabled: policy decides, failures are limited", async () => {
    const limited = createTokenService({
      policy: () => policy,
      keys,
      issuer: ISSUER,
      service: SERVICE,
      perIdentity: new FailureLimiter({ maxFailures: 2, windowMs: 60_000 }),
    });
    const basicAuth = createAuthorizer({
      realm: REALM,
      service: SERVICE,
      verify: createVerifier({ keys, issuer: ISSUER, service: SERVICE }),
      policy: () => policy,
      basicLogin: (user, secret, address) => limited.basicLogin(user, secret, address),
    });
    const as = (user: string, secret: string) => ({
      headers: { authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString("base64")}` },
      socket: { remoteAddress: "10.1.1.1" },
    });
    await expect(
      basicAuth.authorize(as("carol", PASSWORDS.carol as string), "apps/bigdata/server", "pull"),
    ).resolves.toMatchObject({ caller: { kind: "user", name: "carol" }, token: false });
    expect(
      (await failure(basicAuth.authorize(as("carol", PASSWORDS.carol as string), "users/alice/x", "pull")))
        .status,
    ).toBe(403);
    await expect(basicAuth.authorizeBase(as("carol", PASSWORDS.carol as string))).resolves.toMatchObject({
      caller: { name: "carol" },
    });
    expect((await failure(basicAuth.authorize(as("bob", "wrong"), "public/base", "pull"))).status).toBe(401);
    expect((await failure(basicAuth.authorize(as("bob", "wrong"), "public/base", "pull"))).status).toBe(401);
    const locked = await failure(
      basicAuth.authorize(as("bob", PASSWORDS.bob as string), "public/base", "pull"),
    );
    expect(locked.status).toBe(429);
    expect(Number(locked.headers["Retry-After"])).toBeGreaterThan(0);
    // Without basicLogin, Basic is not a token: the client is told to get one.
    expect(
      (await failure(auth.authorize(as("carol", PASSWORDS.carol as string), "apps/bigdata/server", "pull")))
        .headers["WWW-Authenticate"],
    ).toContain("invalid_token");
  });
});

describe("the verified-token cache", () => {
  it("holds many long distinct tokens within its byte budget; a cached token authorizes, an expired one does not", async () => {
    let clock = new Date();
    let calls = 0;
    const verify = createVerifier({ keys, issuer: ISSUER, service: SERVICE });
    const cache = new TokenCache({ maxBytes: 256 * 1024 });
    const cached = createAuthorizer({
      realm: REALM,
      service: SERVICE,
      verify: (token, use, now) => {
        calls++;
        return verify(token, use, now);
      },
      cache,
      now: () => clock,
    });
    // Tokens near the verifier's 16 KiB limit, each one distinct: many access entries with long names.
    const issue = (i: number) =>
      issueAccessToken(
        keys,
        { issuer: ISSUER, service: SERVICE, ttlSeconds: 300, now: clock },
        { kind: "user", name: `user-${i}` },
        Array.from({ length: 60 }, (_, n) => ({
          type: "repository",
          name: `apps/team-${i}/${"component".repeat(12)}-${n}`,
          actions: ["pull"],
        })),
      );
    const long = await Promise.all(Array.from({ length: 200 }, (_, i) => issue(i)));
    expect(long[0]!.token.length).toBeGreaterThan(8 * 1024);
    for (const [i, t] of long.entries()) {
      await cached.authorize(withToken(t.token), `apps/team-${i}/${"component".repeat(12)}-0`, "pull");
      expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
    }
    expect(calls).toBe(200);
    // Only some fit: the oldest were dropped, so the budget (not the count) is what bounds them.
    expect(cache.size).toBeGreaterThan(0);
    expect(cache.size).toBeLessThan(200);

    // The newest is still cached: it authorizes without another signature check.
    const last = long.at(-1)!.token;
    const repository = `apps/team-199/${"component".repeat(12)}-59`;
    await expect(cached.authorize(withToken(last), repository, "pull")).resolves.toMatchObject({
      caller: { kind: "user", name: "user-199" },
      token: true,
    });
    expect(calls).toBe(200);
    // The oldest was evicted: verified again (and still good).
    await cached.authorize(withToken(long[0]!.token), `apps/team-0/${"component".repeat(12)}-0`, "pull");
    expect(calls).toBe(201);

    // Past its expiry the cached token is refused, not answered from the cache.
    clock = new Date(clock.getTime() + 3600_000);
    const err = await failure(cached.authorize(withToken(last), repository, "pull"));
    expect(err.status).toBe(401);
    expect(err.headers["WWW-Authenticate"]).toContain("invalid_token");
  });
});
