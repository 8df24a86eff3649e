/**
 * One health probe for setup's wait (pingProblem) and for `raas status` (checkApp), against a
 * real HTTP server on loopback that answers as a healthy registry, a registry asking for a
 * login, and the ways a registry (or something else on its port) can be wrong.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CheckList } from "./checks.js";
import { checkApp } from "./status-http.js";
import { describeHealthy, pingProblem, registryIdentity, waitForPing } from "../app/ping.js";

/** Per path prefix: the /v1/_ping answer, the /v2/ answer, the /readyz body. */
interface Behaviour {
  ping: [number, string];
  v2: [number, Record<string, string>?];
  readyz?: string;
}

const BEHAVIOURS: Record<string, Behaviour> = {
  healthy: { ping: [200, "true\n"], v2: [200], readyz: '{"isv":"acme"}' },
  login: { ping: [200, "true"], v2: [401, { "www-authenticate": 'Bearer realm="https://r/token"' }] },
  basic: { ping: [200, "true"], v2: [401, { "www-authenticate": 'Basic realm="x"' }] },
  notping: { ping: [200, "false"], v2: [200] },
  nov2: { ping: [200, "true"], v2: [500] },
  huge: { ping: [200, "x".repeat(128 * 1024)], v2: [200] },
  other: { ping: [200, "true"], v2: [200], readyz: '{"isv":"beta"}' },
};

describe("the registry health probe", () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const [, prefix = "", ...rest] = (req.url ?? "").split("/");
      const behaviour = BEHAVIOURS[prefix];
      const path = `/${rest.join("/")}`;
      if (behaviour === undefined) return res.writeHead(404).end();
      if (path === "/v1/_ping") return res.writeHead(behaviour.ping[0]).end(behaviour.ping[1]);
      if (path === "/v2/") return res.writeHead(behaviour.v2[0], behaviour.v2[1] ?? {}).end("{}");
      if (path === "/readyz" && behaviour.readyz !== undefined) {
        return res.writeHead(200).end(behaviour.readyz);
      }
      return res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("finds a registry healthy, also when it asks for a login, and names what is wrong otherwise", async () => {
    expect(await pingProblem(`${base}/healthy/`)).toBeUndefined();
    expect(await pingProblem(`${base}/login`)).toBeUndefined();
    expect(await pingProblem(`${base}/basic`)).toBe("GET /v2/ answered 401");
    expect(await pingProblem(`${base}/notping`)).toBe("GET /v1/_ping answered 200 false");
    expect(await pingProblem(`${base}/nov2`)).toBe("GET /v2/ answered 500");
    expect(await pingProblem(`${base}/huge`)).toBe("the response is larger than the 65536-byte limit");
    expect(await registryIdentity(`${base}/healthy`)).toBe("acme");
    expect(await registryIdentity(`${base}/login`)).toBeUndefined();
  });

  it("tells setup what a healthy registry answered: 200, or 401 with a Bearer challenge when auth is on", async () => {
    expect(describeHealthy(await waitForPing(`${base}/healthy`, { timeoutMs: 2000 }))).toBe(
      "/v1/_ping answers true, /v2/ answers 200",
    );
    expect(describeHealthy(await waitForPing(`${base}/login`, { timeoutMs: 2000 }))).toBe(
      "/v1/_ping answers true, /v2/ answers 401 with a Bearer challenge (auth on)",
    );
    // A 401 without a Bearer challenge is not a registry asking for a login: never healthy.
    await expect(waitForPing(`${base}/basic`, { timeoutMs: 600, intervalMs: 100 })).rejects.toThrow(
      /did not become healthy within 1 s: GET \/v2\/ answered 401/,
    );
  });

  it("gives status the same verdicts, with its own messages", async () => {
    const status = async (prefix: string) => {
      const checks = new CheckList();
      const up = await checkApp("acme", `${base}/${prefix}`, checks, {
        client: { ca: undefined, fetch: (url, init) => fetch(url, init), login: undefined },
        log: () => undefined,
      });
      return { up, check: checks.checks[0] };
    };
    expect(await status("healthy")).toEqual({
      up: true,
      check: {
        name: "registry app",
        status: "ok",
        detail: `${base}/healthy answers /v1/_ping and /v2/ as acme's registry`,
      },
    });
    expect((await status("login")).check).toMatchObject({ status: "warn" }); // up, but does not say whose
    expect(await status("notping")).toMatchObject({
      up: false,
      check: { status: "fail", detail: `${base}/notping/v1/_ping answered 200 "false", /v2/ answered 200` },
    });
    expect((await status("basic")).check?.detail).toBe(
      `${base}/basic/v1/_ping answered 200 "true", /v2/ answered 401`,
    );
    expect(await status("other")).toMatchObject({
      up: false,
      check: { status: "fail", detail: `${base}/other is the registry of beta, not of acme` },
    });
    expect(await status("huge")).toMatchObject({ up: false, check: { status: "fail" } });
  });
});
