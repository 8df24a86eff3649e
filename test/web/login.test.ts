/**
 * Logging in on the web page, over HTTP against the real server with `[auth] mode = local`: the
 * session cookie and its flags, the same-origin rule for login and logout, return paths, one
 * answer for a wrong password and an unknown user, the shared failed-login limit, what each
 * visitor sees, that no password or session value reaches a page or a log line, valid HTML; and
 * the pull chart fed by the registry's own statistics, within the access rules.
 */
import { request } from "node:http";
import { HtmlValidate } from "html-validate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORDS } from "../../src/auth/testing/policy-fixture.js";
import { createRegistryApp } from "../../src/server/app.js";
import { loadServerConfig } from "../../src/server/config.js";
import { loadSnapshot } from "../../src/server/snapshot.js";
import type { LogRecord, RunningRegistry } from "../../src/server/start.js";
import { startRegistryServer } from "../../src/server/start.js";
import { rawRequest } from "../../src/server/testing/fixture.js";
import { freePort } from "../helpers/server-process.js";
import { LOGIN_REPOS, makeLoginApp, makeWebApp, type LoginApp } from "./fixture.js";

const validator = new HtmlValidate({ extends: ["html-validate:recommended"] });

async function expectValid(html: string, where: string): Promise<void> {
  const report = await validator.validateString(html);
  const messages = report.results.flatMap((r) =>
    r.messages.map((m) => `${m.ruleId} line ${m.line}: ${m.message}`),
  );
  expect(messages, `${where} is not valid HTML`).toEqual([]);
}

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function call(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Res> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const rows = (html: string) => [...html.matchAll(/<tr data-key="([^"]+)"/g)].map((m) => m[1]);

describe("web page login (auth local)", () => {
  let app: LoginApp;
  let server: RunningRegistry;
  let base: string;
  let origin: string;
  const logs: string[] = [];

  beforeAll(async () => {
    const port = await freePort();
    app = await makeLoginApp(port);
    server = await startRegistryServer({
      configPath: app.repo.configPath,
      host: "127.0.0.1",
      port,
      log: (record: LogRecord) => logs.push(JSON.stringify(record)),
    });
    base = server.url;
    origin = `http://127.0.0.1:${port}`;
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await app?.cleanup();
  });

  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const postLogin = (fields: Record<string, string>, headers: Record<string, string> = { Origin: origin }) =>
    call(
      base,
      "POST",
      "/ui/login",
      { "Content-Type": "application/x-www-form-urlencoded", Host: new URL(origin).host, ...headers },
      form(fields),
    );
  const sessionOf = (res: Res) => {
    const set = [res.headers["set-cookie"] ?? []].flat();
    expect(set).toHaveLength(1);
    return /^raas-session=([^;]+);/.exec(set[0] ?? "")?.[1] ?? "";
  };
  async function login(user: string, next?: string): Promise<string> {
    const res = await postLogin({
      username: user,
      password: PASSWORDS[user] as string,
      ...(next === undefined ? {} : { next }),
    });
    expect(res.status, res.text).toBe(303);
    return sessionOf(res);
  }
  const page = (path: string, session?: string) =>
    call(base, "GET", path, session === undefined ? {} : { Cookie: `raas-session=${session}` });

  it("shows an anonymous visitor only what anyone may pull, with a way to log in", async () => {
    const list = await page("/ui/");
    expect(rows(list.text)).toEqual([LOGIN_REPOS.public]);
    expect(list.text).toContain('<a href="/ui/login">Log in</a>');
    expect((await page(`/ui/r/${LOGIN_REPOS.alice}`)).status).toBe(404);
    const repoPage = await page(`/ui/r/${LOGIN_REPOS.public}`);
    expect(repoPage.text).toContain(`href="/ui/login?next=%2Fui%2Fr%2Fpublic%2Fbase"`);
    const form = await page(`/ui/login?next=${encodeURIComponent(`/ui/r/${LOGIN_REPOS.alice}`)}`);
    expect(form.status).toBe(200);
    expect(form.text).toContain('<form class="login" method="post" action="/ui/login">');
    expect(form.text).toContain(`name="next" value="/ui/r/${LOGIN_REPOS.alice}"`);
    expect(form.text).toContain('autocomplete="current-password"');
    expect(form.headers["referrer-policy"]).toBe("same-origin");
    await expectValid(form.text, "login page");
    await expectValid(list.text, "anonymous list");
  });

  it("logs in, shows the visitor's name and what they may pull, and logs out", async () => {
    const res = await postLogin({
      username: "alice",
      password: PASSWORDS.alice as string,
      next: `/ui/r/${LOGIN_REPOS.alice}`,
    });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/ui/r/${LOGIN_REPOS.alice}`);
    expect(res.headers["cache-control"]).toBe("no-store");
    const cookie = String([res.headers["set-cookie"]].flat()[0]);
    expect(cookie).toMatch(
      /^raas-session=[\w-]+\.[\w-]+\.[\w-]+; Path=\/ui\/; Max-Age=3600; HttpOnly; SameSite=Strict$/,
    );
    const session = sessionOf(res);

    const list = await page("/ui/", session);
    expect(rows(list.text)).toEqual([LOGIN_REPOS.app, LOGIN_REPOS.public, LOGIN_REPOS.alice]);
    expect(list.text).toContain('Signed in as <strong id="visitor">alice</strong>');
    expect(list.text).toContain(
      '<form method="post" action="/ui/logout"><button type="submit">Log out</button>',
    );
    await expectValid(list.text, "list, logged in");
    const tagPage = await page(`/ui/r/${LOGIN_REPOS.alice}/-/t/latest`, session);
    expect(tagPage.status).toBe(200);
    // Its pull commands say that clients log in first; a public repository's do not.
    const host = new URL(origin).host;
    expect(tagPage.text).toContain(`<code>skopeo login --tls-verify=false ${host}</code>`);
    expect((await page(`/ui/r/${LOGIN_REPOS.public}`, session)).text).not.toContain("login-note");
    // carol may pull the app (publication group) but not alice's own repository.
    const carol = await login("carol");
    expect(rows((await page("/ui/", carol)).text)).toEqual([LOGIN_REPOS.app, LOGIN_REPOS.public]);
    expect((await page(`/ui/r/${LOGIN_REPOS.alice}`, carol)).status).toBe(404);
    // The login page of a logged-in visitor says so.
    expect((await page("/ui/login", session)).text).toContain("You are logged in as <strong>alice</strong>");

    // The session is for the page only: the registry API does not take it, as a cookie or a token.
    const tags = `/v2/${LOGIN_REPOS.alice}/tags/list`;
    expect((await call(base, "GET", tags, { Cookie: `raas-session=${session}` })).status).toBe(401);
    expect((await call(base, "GET", tags, { Authorization: `Bearer ${session}` })).status).toBe(401);

    const out = await call(base, "POST", "/ui/logout", { Origin: origin, Cookie: `raas-session=${session}` });
    expect(out.status).toBe(303);
    expect(out.headers.location).toBe("/ui/");
    expect([out.headers["set-cookie"]].flat()[0]).toBe(
      "raas-session=; Path=/ui/; Max-Age=0; HttpOnly; SameSite=Strict",
    );
    expect((await call(base, "GET", "/ui/logout")).status).toBe(405);
  });

  it("sets a __Host- cookie, Secure, when the page is served over TLS", async () => {
    const res = await postLogin(
      { username: "alice", password: PASSWORDS.alice as string },
      { Origin: `https://${new URL(origin).host}`, "X-Forwarded-Proto": "https" },
    );
    expect(res.status).toBe(303);
    const cookie = String([res.headers["set-cookie"]].flat()[0]);
    expect(cookie).toMatch(
      /^__Host-raas-session=[\w.-]+; Path=\/; Max-Age=3600; HttpOnly; SameSite=Strict; Secure$/,
    );
    const value = /=([^;]+);/.exec(cookie)?.[1] ?? "";
    const secure = { "X-Forwarded-Proto": "https" };
    const seen = await call(base, "GET", "/ui/", { ...secure, Cookie: `__Host-raas-session=${value}` });
    expect(seen.text).toContain('Signed in as <strong id="visitor">alice</strong>');
    // Over TLS only the __Host- cookie counts: a plain cookie (which any sibling host could set) does not.
    const plain = await call(base, "GET", "/ui/", { ...secure, Cookie: `raas-session=${value}` });
    expect(plain.text).not.toContain("Signed in as");
  });

  it("answers a wrong password and an unknown user alike, never echoing the password", async () => {
    const wrong = await postLogin({ username: "alice", password: "Wrong-Pa55word!" });
    const unknown = await postLogin({ username: "nobody-here", password: "Wrong-Pa55word!" });
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(401);
      expect(res.headers["set-cookie"]).toBeUndefined();
      expect(res.text).toContain(
        '<p class="error" id="login-error" role="alert">Wrong username or password.</p>',
      );
      expect(res.text).not.toContain("Wrong-Pa55word!");
      await expectValid(res.text, "login page with an error");
    }
    expect(wrong.text.replace('value="alice"', "")).toBe(unknown.text.replace('value="nobody-here"', ""));
    const empty = await postLogin({ username: "alice", password: "" });
    expect(empty.status).toBe(400);
    expect(empty.text).toContain("Enter a username and a password.");
  });

  it("accepts login and logout only from its own pages (CSRF)", async () => {
    const right = { username: "alice", password: PASSWORDS.alice as string };
    const refused: Record<string, string>[] = [
      {},
      { Origin: "http://evil.example" },
      { Origin: "null" },
      { "Sec-Fetch-Site": "cross-site" },
      { "Sec-Fetch-Site": "same-site", Origin: origin },
      { "Sec-Fetch-Site": "same-origin", Origin: "http://evil.example" },
    ];
    for (const headers of refused) {
      const res = await postLogin(right, headers);
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.headers["set-cookie"], JSON.stringify(headers)).toBeUndefined();
    }
    // Over TLS, an http page of the same host is another origin.
    const downgrade = { Origin: origin, "X-Forwarded-Proto": "https" };
    expect((await postLogin(right, downgrade)).status).toBe(403);
    expect((await postLogin(right, { "Sec-Fetch-Site": "same-origin" })).status).toBe(303);
    // Behind a TLS proxy that does not say so, the browser's https origin is still this host.
    const proxied = { Origin: `https://${new URL(origin).host}`, "Sec-Fetch-Site": "same-origin" };
    expect((await postLogin(right, proxied)).status).toBe(303);
    const session = await login("alice");
    const out = await call(base, "POST", "/ui/logout", {
      Origin: "http://evil.example",
      Cookie: `raas-session=${session}`,
    });
    expect(out.status).toBe(403);
    expect(out.headers["set-cookie"]).toBeUndefined();
    // Not a form: refused before any check of the credentials.
    const json = await call(
      base,
      "POST",
      "/ui/login",
      { "Content-Type": "application/json", Origin: origin },
      JSON.stringify(right),
    );
    expect(json.status).toBe(415);
    const huge = await postLogin({ ...right, next: `/ui/${"a".repeat(10_000)}` });
    expect(huge.status).toBe(413);
  });

  it("returns only to a path of the page after logging in (no open redirect)", async () => {
    for (const next of [
      "//evil.example/",
      "https://evil.example/ui/",
      "/\\evil.example",
      "/ui//evil.example",
      "/ui/\\evil.example",
      "javascript:alert(1)",
      "/ui/\r\nSet-Cookie: x=1",
      "/v2/_catalog",
      "ui/r/public/base",
      `/ui/${"a".repeat(2000)}`,
    ]) {
      const res = await postLogin({ username: "carol", password: PASSWORDS.carol as string, next });
      expect(res.status, next).toBe(303);
      expect(res.headers.location, next).toBe("/ui/");
    }
    const ok = await postLogin({
      username: "carol",
      password: PASSWORDS.carol as string,
      next: "/ui/r/public/base?sort=size&order=desc",
    });
    expect(ok.headers.location).toBe("/ui/r/public/base?sort=size&order=desc");
  });

  it("counts failed logins in the registry's limiter: locked for the page and for docker login", async () => {
    for (let i = 0; i < 10; i++) {
      expect((await postLogin({ username: "erin", password: `bad-${i}` })).status).toBe(401);
    }
    const locked = await postLogin({ username: "erin", password: PASSWORDS.erin as string });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers["retry-after"])).toBeGreaterThan(0);
    expect(locked.text).toMatch(/Too many failed logins\. Try again in \d+ seconds\./);
    expect(locked.headers["set-cookie"]).toBeUndefined();
    const basic = `Basic ${Buffer.from(`erin:${PASSWORDS.erin}`).toString("base64")}`;
    const token = await call(base, "GET", "/token?service=raas-web-test", { Authorization: basic });
    expect(token.status).toBe(429);
  });

  it("shows the pulls counted by the registry on the repository and tag pages, to those who may pull", async () => {
    const token = JSON.parse(
      (
        await call(base, "GET", `/token?service=raas-web-test&scope=repository:${LOGIN_REPOS.alice}:pull`, {
          Authorization: `Basic ${Buffer.from(`alice:${PASSWORDS.alice}`).toString("base64")}`,
        })
      ).text,
    ) as { token: string };
    const accept = { Accept: "application/vnd.docker.distribution.manifest.v2+json" };
    for (let i = 0; i < 3; i++) {
      const res = await call(base, "GET", `/v2/${LOGIN_REPOS.alice}/manifests/latest`, {
        ...accept,
        Authorization: `Bearer ${token.token}`,
      });
      expect(res.status).toBe(200);
    }
    for (let i = 0; i < 2; i++) {
      expect((await call(base, "GET", `/v2/${LOGIN_REPOS.public}/manifests/1.0`, accept)).status).toBe(200);
    }
    const session = await login("alice");
    // Flushed every 300 ms; the page reads statistics at most every 5 s.
    const chartOf = async (path: string, who?: string) => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const text = (await page(path, who)).text;
        const m = /Pulls per day from \S+ to \S+: (\d+) in total/.exec(text);
        if (m !== null || Date.now() > deadline) return { total: m?.[1], text };
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const tagPage = await chartOf(`/ui/r/${LOGIN_REPOS.alice}/-/t/latest`, session);
    expect(tagPage.total).toBe("3");
    expect(tagPage.text).toContain('<h2 id="pulls">Pulls per day</h2>');
    await expectValid(tagPage.text, "tag page with pull chart");
    expect((await chartOf(`/ui/r/${LOGIN_REPOS.alice}`, session)).total).toBe("3");
    expect((await chartOf(`/ui/r/${LOGIN_REPOS.public}/-/t/1.0`)).total).toBe("2");
    // Another tag of the same repository was never pulled: no chart.
    expect((await page(`/ui/r/${LOGIN_REPOS.public}/-/t/latest`)).text).not.toContain("Pulls per day");
    // Who may not pull a repository sees neither its page nor its counts.
    expect((await page(`/ui/r/${LOGIN_REPOS.alice}/-/t/latest`)).status).toBe(404);
    expect((await call(base, "GET", `/raas/stats/${LOGIN_REPOS.alice}`)).status).toBe(401);
    // The same answer for a name that does not exist: the counts route tells no one what is there.
    const hidden = await call(base, "GET", `/raas/stats/${LOGIN_REPOS.alice}`);
    const absent = await call(base, "GET", "/raas/stats/users/alice/no-such-tool");
    expect(absent.status).toBe(401);
    const unnamed = (text: string) => text.replaceAll("no-such-tool", "tool");
    expect(JSON.parse(unnamed(absent.text))).toEqual(JSON.parse(hidden.text));
    // Bob may log in but not pull Alice's repositories: the same answer for both names again.
    const bob = JSON.parse(
      (
        await call(base, "GET", `/token?service=raas-web-test&scope=repository:${LOGIN_REPOS.alice}:pull`, {
          Authorization: `Basic ${Buffer.from(`bob:${PASSWORDS.bob}`).toString("base64")}`,
        })
      ).text,
    ) as { token: string };
    const asBob = async (name: string) => {
      const res = await call(base, "GET", `/raas/stats/${name}`, { Authorization: `Bearer ${bob.token}` });
      return { status: res.status, body: JSON.parse(unnamed(res.text)) as unknown };
    };
    const bobHidden = await asBob(LOGIN_REPOS.alice);
    expect(bobHidden.status).toBeGreaterThanOrEqual(401);
    expect(bobHidden.status).toBeLessThan(404);
    expect(await asBob("users/alice/no-such-tool")).toEqual(bobHidden);
  });

  it("never writes a password or a session value into a log line", async () => {
    const session = await login("bob");
    await page("/ui/", session);
    await postLogin({ username: "bob", password: "Secret-Typo-123" });
    const text = logs.join("\n");
    expect(text).toContain('"path":"/ui/login"');
    for (const secret of [...Object.values(PASSWORDS), "Secret-Typo-123", "Wrong-Pa55word!", session]) {
      expect(text.includes(secret), "a secret in the log").toBe(false);
    }
  });
});

describe("web page login with an external token issuer", () => {
  it("says where logins happen and takes no password", async () => {
    const app = await makeWebApp();
    const config = await loadServerConfig(app.repo.configPath, {});
    const snapshot = await loadSnapshot(config, () => undefined);
    const { createServer } = await import("node:http");
    const server = createServer(
      createRegistryApp({
        config,
        snapshot: () => snapshot,
        web: {
          auth: {
            mode: "external",
            visitor: () =>
              Promise.resolve({
                session: false,
                canPull: (name) => name === "acme/app",
                needsLogin: () => true,
              }),
          },
        },
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const res = await rawRequest(url, "GET", "/ui/login");
      const text = res.body.toString();
      expect(res.status).toBe(200);
      expect(text).toContain("trusts the tokens of an external issuer");
      expect(text).not.toContain('type="password"');
      await expectValid(text, "external login page");
      const list = (await rawRequest(url, "GET", "/ui/")).body.toString();
      expect(rows(list)).toEqual(["acme/app"]);
      expect(list).toContain('<a href="/ui/login">Log in</a>');
      expect((await rawRequest(url, "POST", "/ui/login")).status).toBe(405);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app.cleanup();
    }
  });
});
