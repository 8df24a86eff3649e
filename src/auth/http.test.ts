import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthorizer } from "./authorize.js";
import { createTokenRoute, sendAuthError } from "./http.js";
import { createVerifier } from "./jwt.js";
import { generateKeySet } from "./keys.js";
import { createTokenService } from "./token-service.js";
import { fixturePolicy, PASSWORDS } from "./testing/policy-fixture.js";

let server: Server;
let base: string;

beforeAll(async () => {
  const keys = await generateKeySet();
  const policy = await fixturePolicy();
  const opts = { issuer: "raas", service: "reg.test" };
  const route = createTokenRoute(createTokenService({ policy: () => policy, keys, ...opts }));
  const authorizer = createAuthorizer({
    realm: "http://reg.test/token",
    service: "reg.test",
    verify: createVerifier({ keys, ...opts }),
    policy: () => policy,
  });
  server = createServer((req, res) => {
    void (async () => {
      if (await route(req, res)) return;
      await authorizer.authorize(req, "apps/bigdata/server", "pull");
      res.writeHead(200).end("ok");
    })().catch((err: unknown) => {
      if (!sendAuthError(req, res, err)) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe("node http adapters", () => {
  it("POST /token (OAuth2 form) over HTTP, then the token opens the protected route", async () => {
    const form = new URLSearchParams({
      grant_type: "password",
      username: "carol",
      password: PASSWORDS.carol as string,
      client_id: "test",
      scope: "repository:apps/bigdata/server:pull",
    });
    const res = await fetch(`${base}/token`, {
      method: "POST",
      body: form,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const { access_token } = (await res.json()) as { access_token: string };
    const ok = await fetch(`${base}/v2/apps/bigdata/server/manifests/1`, {
      headers: { authorization: `Bearer ${access_token}` },
    });
    expect(ok.status).toBe(200);
    const anon = await fetch(`${base}/v2/apps/bigdata/server/manifests/1`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get("www-authenticate")).toBe(
      'Bearer realm="http://reg.test/token",service="reg.test",scope="repository:apps/bigdata/server:pull"',
    );
    expect(anon.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
    expect(((await anon.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe("UNAUTHORIZED");
  });

  it("refuses an oversized form without buffering it", async () => {
    const res = await fetch(`${base}/token`, {
      method: "POST",
      body: "a=" + "x".repeat(200_000),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(413);
  });

  it("leaves other paths to the server (/token/x, /tokens)", async () => {
    for (const path of ["/token/x", "/tokens"]) expect((await fetch(`${base}${path}`)).status).toBe(401);
  });
});
