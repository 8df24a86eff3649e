import { beforeAll, describe, expect, it } from "vitest";
import { decodeJwt } from "jose";
import type { AccessEntry } from "./jwt.js";
import { createVerifier } from "./jwt.js";
import type { KeySet } from "./keys.js";
import { generateKeySet } from "./keys.js";
import { parsePolicy } from "./policy-file.js";
import type { Policy } from "./policy.js";
import { FailureLimiter } from "./rate-limit.js";
import type { TokenRequest, TokenService } from "./token-service.js";
import { createTokenService } from "./token-service.js";
import { fixtureText, PASSWORDS, SERVICE_TOKENS } from "./testing/policy-fixture.js";
import { hashPassword } from "./passwords.js";

const SERVICE = "registry.test";
const ISSUER = "raas-test";

let keys: KeySet;
let policy: Policy;
let text: string;
beforeAll(async () => {
  keys = await generateKeySet();
  text = await fixtureText();
  policy = parsePolicy(text);
});

function service(overrides: Partial<Parameters<typeof createTokenService>[0]> = {}): TokenService {
  return createTokenService({ policy: () => policy, keys, issuer: ISSUER, service: SERVICE, ...overrides });
}

const basic = (user: string, secret: string) =>
  `Basic ${Buffer.from(`${user}:${secret}`).toString("base64")}`;

function get(query: string, auth?: string, remoteAddress = "127.0.0.1"): TokenRequest {
  return {
    method: "GET",
    url: `/token?service=${SERVICE}&${query}`,
    headers: auth === undefined ? {} : { authorization: auth },
    remoteAddress,
  };
}

function post(form: Record<string, string | string[]>, remoteAddress = "127.0.0.1"): TokenRequest {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const value of [v].flat()) params.append(k, value);
  return {
    method: "POST",
    url: "/token",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: params.toString(),
    remoteAddress,
  };
}

async function accessOf(svc: TokenService, request: TokenRequest): Promise<AccessEntry[]> {
  const res = await svc.handle(request);
  expect(res.status, res.body).toBe(200);
  const body = JSON.parse(res.body) as { token?: string; access_token: string };
  const verified = await createVerifier({ keys, issuer: ISSUER, service: SERVICE })(body.access_token);
  return [...verified.access];
}

const scopes = (...s: string[]) => s.map((x) => `scope=${encodeURIComponent(x)}`).join("&");

describe("GET /token", () => {
  it("anonymous: only what is public", async () => {
    const svc = service();
    expect(
      await accessOf(
        svc,
        get(scopes("repository:public/base:pull,push", "repository:apps/bigdata/server:pull")),
      ),
    ).toEqual([{ type: "repository", name: "public/base", actions: ["pull"] }]);
  });

  it("a user gets exactly the granted subset of several scopes", async () => {
    const access = await accessOf(
      service(),
      get(
        scopes(
          "repository:users/alice/tool:pull,push",
          "repository:users/bob/tool:pull,push",
          "repository:apps/bigdata/server:*",
          "repository:tools/x:pull",
        ),
        basic("alice", PASSWORDS.alice as string),
      ),
    );
    expect(access).toEqual([
      { type: "repository", name: "users/alice/tool", actions: ["pull", "push"] },
      { type: "repository", name: "apps/bigdata/server", actions: ["pull", "push"] },
    ]);
  });

  it("the token carries sub, iss, aud and a short expiry; a service login pulls only its app", async () => {
    const res = await service().handle(
      get(
        scopes("repository:apps/bigdata/server:pull,push", "repository:users/alice/x:pull"),
        basic("node-17", SERVICE_TOKENS["node-17"] as string),
      ),
    );
    const body = JSON.parse(res.body) as { token: string; expires_in: number; issued_at: string };
    expect(body.expires_in).toBe(300);
    const claims = decodeJwt(body.token);
    expect(claims).toMatchObject({
      sub: "node-17",
      iss: ISSUER,
      aud: SERVICE,
      access: [{ type: "repository", name: "apps/bigdata/server", actions: ["pull"] }],
    });
    expect(res.headers["Cache-Control"]).toBe("no-store");
  });

  it("wrong password, unknown user and wrong service token answer identically, without echoing secrets", async () => {
    const svc = service();
    const answers = await Promise.all([
      svc.handle(get("", basic("alice", "wrong"))),
      svc.handle(get("", basic("nobody", "wrong"))),
      svc.handle(get("", basic("node-17", "raas_sl_wrong"))),
      svc.handle(get("", basic("nobody", "raas_sl_wrong"))),
      svc.handle(get("", basic("alice", SERVICE_TOKENS["node-17"] as string))),
      svc.handle(get("", "Basic !!!")),
    ]);
    for (const res of answers) {
      expect(res.status).toBe(401);
      expect(res.body).toBe(answers[0].body);
      expect(res.headers["WWW-Authenticate"]).toBe(`Basic realm="${SERVICE}"`);
      expect(res.body).not.toMatch(/wrong|alice|nobody|node-17/);
    }
  });

  it("hostile scopes: too many, too long, malformed -> 400; odd names and actions grant nothing", async () => {
    const svc = service();
    const many = Array.from({ length: 33 }, (_, i) => `repository:public/r${i}:pull`);
    for (const bad of [
      scopes(...many),
      scopes(`repository:${"a".repeat(600)}:pull`),
      scopes("repository"),
      scopes("repository:public/base"),
      scopes("Repo:x:pull"),
      scopes("repository:public/base:pull;rm"),
      scopes("repository::pull"),
    ]) {
      const res = await svc.handle(get(bad));
      expect(res.status, bad.slice(0, 80)).toBe(400);
    }
    const odd = await accessOf(
      svc,
      get(
        scopes(
          "repository:__proto__:pull",
          "repository:public/base:constructor,tostring,hasownproperty",
          "repository:localhost:5000/public/base:pull",
          "repository(plugin):public/base:pull",
          "repository:public/../etc:pull",
          "registry:catalog:*",
          "repository:public/base:pull repository:public/base:push",
        ),
      ),
    );
    expect(odd).toEqual([
      { type: "repository", name: "public/base", actions: ["pull"] },
      { type: "registry", name: "catalog", actions: ["*"] },
    ]);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it("refuses another service's name, and answers 405 to other methods", async () => {
    const res = await service().handle({ ...get(""), url: "/token?service=elsewhere" });
    expect(res.status).toBe(400);
    expect((await service().handle({ ...get(""), method: "DELETE" })).status).toBe(405);
  });

  it("offline_token=true returns a refresh token for users", async () => {
    const res = await service().handle(
      get("offline_token=true&client_id=docker", basic("bob", PASSWORDS.bob as string)),
    );
    const body = JSON.parse(res.body) as { refresh_token?: string };
    expect(decodeJwt(body.refresh_token!)).toMatchObject({
      sub: "bob",
      token_use: "refresh",
      client_id: "docker",
    });
  });
});

describe("verified-login cache", () => {
  it("a remembered login stops working as soon as the password changes or the user goes", async () => {
    let current = policy;
    const svc = createTokenService({ policy: () => current, keys, issuer: ISSUER, service: SERVICE });
    const login = () => svc.handle(get("", basic("bob", PASSWORDS.bob as string)));
    expect((await login()).status).toBe(200);
    expect((await login()).status).toBe(200);
    const newHash = await hashPassword("changed-password", { ln: 10, r: 8, p: 1 });
    // A function, not a replacement string: a "$1" inside the random hash would be read as a group.
    current = parsePolicy(
      text.replace(/(bob: \{ id: "1002", password: ")[^"]+/, (_m, head: string) => head + newHash),
    );
    expect((await login()).status).toBe(401);
    expect((await svc.handle(get("", basic("bob", "changed-password")))).status).toBe(200);
    current = parsePolicy(
      text.replace(/ {2}bob: .*\n/, "").replace("members: [alice, bob, rel]", "members: [alice, rel]"),
    );
    expect((await svc.handle(get("", basic("bob", "changed-password")))).status).toBe(401);
  });
});

describe("POST /token (OAuth2)", () => {
  it("password grant with access_type=offline, then refresh", async () => {
    const svc = service();
    const res = await svc.handle(
      post({
        grant_type: "password",
        username: "carol",
        password: PASSWORDS.carol as string,
        client_id: "containerd",
        access_type: "offline",
        scope: "repository:apps/bigdata/server:pull,push",
        service: SERVICE,
      }),
    );
    expect(res.status, res.body).toBe(200);
    const body = JSON.parse(res.body) as {
      access_token: string;
      refresh_token: string;
      scope: string;
      expires_in: number;
    };
    expect(body.scope).toBe("repository:apps/bigdata/server:pull");
    const refreshed = await svc.handle(
      post({
        grant_type: "refresh_token",
        refresh_token: body.refresh_token,
        client_id: "containerd",
        scope: "repository:apps/bigdata/server:pull repository:tools/x:pull",
      }),
    );
    expect(refreshed.status, refreshed.body).toBe(200);
    const again = JSON.parse(refreshed.body) as { access_token: string; scope: string };
    expect(again.scope).toBe("repository:apps/bigdata/server:pull repository:tools/x:pull");
    expect(decodeJwt(again.access_token).sub).toBe("carol");
  });

  it("refresh tokens die with a password change or removal, and are bound to the client id", async () => {
    const svc = createTokenService({ policy: () => current, keys, issuer: ISSUER, service: SERVICE });
    let current = policy;
    const res = await svc.handle(
      post({
        grant_type: "password",
        username: "bob",
        password: PASSWORDS.bob as string,
        client_id: "docker",
        access_type: "offline",
      }),
    );
    const refresh = (JSON.parse(res.body) as { refresh_token: string }).refresh_token;
    const use = (clientId = "docker") =>
      svc.handle(post({ grant_type: "refresh_token", refresh_token: refresh, client_id: clientId }));
    expect((await use()).status).toBe(200);
    expect((await use("other")).status).toBe(401);
    const access = (JSON.parse(res.body) as { access_token: string }).access_token;
    expect(
      (await svc.handle(post({ grant_type: "refresh_token", refresh_token: access, client_id: "docker" })))
        .status,
    ).toBe(401);
    const newHash = await hashPassword("changed", { ln: 10, r: 8, p: 1 });
    // A function, not a replacement string: a "$1" inside the random hash would be read as a group.
    current = parsePolicy(
      text.replace(/(bob: \{ id: "1002", password: ")[^"]+/, (_m, head: string) => head + newHash),
    );
    expect((await use()).status).toBe(401);
    current = parsePolicy(
      text.replace(/ {2}bob: .*\n/, "").replace("members: [alice, bob, rel]", "members: [alice, rel]"),
    );
    expect((await use()).status).toBe(401);
  });

  it("wrong password is invalid_grant; malformed forms are invalid_request", async () => {
    const svc = service();
    const wrong = await svc.handle(
      post({ grant_type: "password", username: "carol", password: "nope", client_id: "c" }),
    );
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body)).toMatchObject({ error: "invalid_grant" });
    expect(
      (await svc.handle(post({ grant_type: "password", username: "carol", password: "x" }))).status,
    ).toBe(400);
    expect((await svc.handle(post({ grant_type: "client_credentials", client_id: "c" }))).status).toBe(400);
    expect((await svc.handle({ ...post({}), headers: { "content-type": "application/json" } })).status).toBe(
      400,
    );
    expect((await svc.handle({ ...post({ client_id: "c" }), body: "a=" + "x".repeat(70_000) })).status).toBe(
      400,
    );
    expect(
      (
        await svc.handle(
          post({
            grant_type: "password",
            username: "carol",
            password: PASSWORDS.carol as string,
            client_id: "c",
            scope: "bad",
          }),
        )
      ).status,
    ).toBe(400);
  });
});

describe("abuse", () => {
  it("locks a login name after repeated failures, even with the right password, without locking others", async () => {
    const svc = service({
      perIdentity: new FailureLimiter({ maxFailures: 3, windowMs: 60_000 }),
      perAddress: new FailureLimiter({ maxFailures: 100, windowMs: 60_000 }),
    });
    for (let i = 0; i < 3; i++) {
      expect((await svc.handle(get("", basic("alice", "guess" + i), `10.0.0.${i}`))).status).toBe(401);
    }
    const locked = await svc.handle(get("", basic("alice", PASSWORDS.alice as string), "10.0.0.9"));
    expect(locked.status).toBe(429);
    expect(Number(locked.headers["Retry-After"])).toBeGreaterThan(0);
    expect((await svc.handle(get("", basic("bob", PASSWORDS.bob as string), "10.0.0.9"))).status).toBe(200);
    // An unknown name is limited the same way, so limiting reveals nothing about existence.
    for (let i = 0; i < 3; i++) await svc.handle(get("", basic("ghost", "x")));
    expect((await svc.handle(get("", basic("ghost", "x")))).status).toBe(429);
  });

  it("locks a client address that sprays many names", async () => {
    const svc = service({
      perIdentity: new FailureLimiter({ maxFailures: 100, windowMs: 60_000 }),
      perAddress: new FailureLimiter({ maxFailures: 5, windowMs: 60_000 }),
    });
    for (let i = 0; i < 5; i++) await svc.handle(get("", basic(`user${i}`, "x"), "192.0.2.7"));
    expect((await svc.handle(get("", basic("bob", PASSWORDS.bob as string), "192.0.2.7"))).status).toBe(429);
    expect(
      (
        await svc.handle(
          post(
            { grant_type: "password", username: "bob", password: PASSWORDS.bob as string, client_id: "c" },
            "192.0.2.7",
          ),
        )
      ).status,
    ).toBe(429);
    expect((await svc.handle(get("", basic("bob", PASSWORDS.bob as string), "192.0.2.8"))).status).toBe(200);
  });

  it("the limiter stays bounded however many keys an attacker uses, and windows expire", () => {
    const limiter = new FailureLimiter({ maxFailures: 1, windowMs: 1000, maxKeys: 100 });
    for (let i = 0; i < 10_000; i++) limiter.fail(`k${i}`, 0);
    expect(limiter.size).toBeLessThanOrEqual(100);
    limiter.fail("x", 0);
    expect(limiter.retryAfter("x", 500)).toBe(1);
    expect(limiter.retryAfter("x", 1000)).toBe(0);
  });
});
