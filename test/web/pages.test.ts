/**
 * The web page over HTTP, in process: routes, escaping of hostile metadata, what never appears
 * (storage and vendor URLs, protected repositories), the access filter, optional sections, and
 * valid HTML (html-validate) on every page.
 */
import { readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { HtmlValidate } from "html-validate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistryApp } from "../../src/server/app.js";
import { loadServerConfig } from "../../src/server/config.js";
import { loadSnapshot } from "../../src/server/snapshot.js";
import type { RunningRegistry } from "../../src/server/start.js";
import { startRegistryServer } from "../../src/server/start.js";
import { rawRequest } from "../../src/server/testing/fixture.js";
import type { WebOptions } from "../../src/web/index.js";
import { startS3rver, type RunningS3rver } from "../helpers/s3rver.js";
import { HOSTILE, makeWebApp, type WebApp } from "./fixture.js";

const validator = new HtmlValidate({ extends: ["html-validate:recommended"] });

async function expectValid(html: string, where: string): Promise<void> {
  const report = await validator.validateString(html);
  const messages = report.results.flatMap((r) =>
    r.messages.map((m) => `${m.ruleId} line ${m.line}: ${m.message}`),
  );
  expect(messages, `${where} is not valid HTML`).toEqual([]);
}

/** Nothing from these strings may reach a page: storage and vendor URLs, tokens, raw markup. */
const NEVER = [
  "storage.internal.example",
  "private-bucket",
  "127.0.0.1:1/bucket",
  "VENDOR-SECRET-TOKEN",
  "FOREIGN-SECRET",
  HOSTILE.label,
  HOSTILE.quote,
  HOSTILE.os,
  HOSTILE.variant,
  HOSTILE.craneRef,
  "secret/thing",
];

function expectClean(html: string, where: string): void {
  for (const bad of NEVER) expect(html.includes(bad), `${where} contains ${bad}`).toBe(false);
  // No inline script, no inline style, no event handler attribute: the CSP would block them anyway.
  expect(html).not.toMatch(/<script(?![^>]*\ssrc=)/);
  expect(html).not.toMatch(/\sstyle=/);
  expect(html.replace(/"[^"]*"/g, '""')).not.toMatch(/<[^>]*\son[a-z]+=/i);
}

async function startWithOptions(
  app: WebApp,
  web: WebOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  const config = await loadServerConfig(app.repo.configPath, {});
  const snapshot = await loadSnapshot(config, () => undefined);
  const server: Server = createServer(createRegistryApp({ config, snapshot: () => snapshot, web }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe("web page", () => {
  let app: WebApp;
  let server: RunningRegistry;
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await rawRequest(server.url, "GET", path, headers);
    return { ...res, text: res.body.toString("utf8") };
  };

  beforeAll(async () => {
    app = await makeWebApp();
    server = await startRegistryServer({ configPath: app.repo.configPath, host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    await server.close();
    await app.cleanup();
  });

  it("sends browsers from / to /ui/ and leaves / as it was for API clients", async () => {
    const browser = await get("/", { Accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8" });
    expect(browser.status).toBe(302);
    expect(browser.headers.location).toBe("/ui/");
    for (const accept of [undefined, "application/json", "*/*"]) {
      const api = await get("/", accept === undefined ? {} : { Accept: accept });
      expect(api.status).toBe(404);
      expect(api.text).toBe("Not Found");
    }
    expect((await get("/ui")).headers.location).toBe("/ui/");
    expect((await get("/v2/")).status).toBe(200);
  });

  it("lists the repositories a visitor can pull, with a strict CSP and valid HTML", async () => {
    const res = await get("/ui/");
    expect(res.status).toBe(200);
    expect(res.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(res.headers["content-security-policy"]).not.toContain("unsafe-inline");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    for (const name of ["acme/app", "hostile/app", "legacy/tool"]) {
      expect(res.text).toContain(`href="/ui/r/${name}"`);
    }
    expectClean(res.text, "/ui/");
    await expectValid(res.text, "/ui/");
  });

  it("filters the list on the server and escapes the query it shows back", async () => {
    const res = await get(`/ui/?q=${encodeURIComponent("acme")}`);
    expect(res.text).toContain('href="/ui/r/acme/app"');
    expect(res.text).not.toContain('href="/ui/r/hostile/app"');
    expect(res.text).toContain("1 repository matching");
    const evil = await get(`/ui/?q=${encodeURIComponent(HOSTILE.quote)}`);
    expect(evil.status).toBe(200);
    expect(evil.text).toContain("No repository matches");
    expect(evil.text).toContain("&quot;&#39;&gt;&lt;img src=x onerror=alert(1)&gt;");
    expectClean(evil.text, "search page");
    await expectValid(evil.text, "search page");
  });

  it("shows a repository's tags with digest, size, created and platforms, sortable", async () => {
    const res = await get("/ui/r/acme/app");
    expect(res.status).toBe(200);
    const tags = app.acme.publication.tags;
    for (const tag of ["latest", "1.0", "multi"]) {
      expect(res.text).toContain(`href="/ui/r/acme/app/-/t/${tag}"`);
    }
    expect(res.text).toContain(`href="/ui/r/acme/app/-/d/${tags.multi}"`);
    expect(res.text).toContain("linux/arm64, linux/amd64");
    expect(res.text).toMatch(
      /skopeo copy --src-tls-verify=false docker:\/\/127\.0\.0\.1:\d+\/acme\/app:latest oci:app:latest/,
    );
    await expectValid(res.text, "repository page");
    const bySize = await get("/ui/r/acme/app?sort=size&order=desc");
    const order = [...bySize.text.matchAll(/data-key="([^"]+)"/g)].map((m) => m[1]);
    expect(order).toEqual(["1.0", "latest", "multi"]); // the two-layer image is the largest
    expect(bySize.text).toContain('aria-sort="descending"');
  });

  it("escapes every hostile field and never shows storage or vendor URLs", async () => {
    const hostile = app.hostile.publication;
    const pages = [
      "/ui/r/hostile/app",
      "/ui/r/hostile/app/-/t/constructor",
      "/ui/r/hostile/app/-/t/multi",
      `/ui/r/hostile/app/-/d/${hostile.tags.multi}`,
      ...hostile.manifests.map((m) => `/ui/r/hostile/app/-/d/${m.digest}`),
      "/ui/r/legacy/tool",
    ];
    for (const path of pages) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expectClean(res.text, path);
      await expectValid(res.text, path);
    }
    // A tag named __proto__ is in the metadata file; the page shows it exactly when /v2/ serves it.
    const proto = await get("/ui/r/hostile/app/-/t/__proto__");
    const v2 = await get("/v2/hostile/app/manifests/__proto__", {
      Accept: "application/vnd.docker.distribution.manifest.v2+json",
    });
    expect(proto.status).toBe(v2.status);
    expectClean(proto.text, "__proto__ tag page");
    const image = (await get("/ui/r/hostile/app/-/t/constructor")).text;
    expect(image).toContain("&lt;script&gt;alert(&quot;label&quot;)&lt;/script&gt;");
    expect(image).toContain("proto-label");
    expect(image).toContain("vendor-hosted");
    expect(image).toContain("from cdn.vendor.example");
    expect(image).toContain("foreign layer");
    expect(image).toContain("from foreign.example");
    expect(image).toContain('datetime="2025-03-04T05:06:07.000Z"');
    const multi = (await get("/ui/r/hostile/app/-/t/multi")).text;
    expect(multi).toContain(
      "&lt;script&gt;alert(&#39;os&#39;)&lt;/script&gt;/arm/v8&quot;onmouseover=&quot;alert(1)",
    );
    const legacy = (await get("/ui/r/legacy/tool")).text;
    expect(legacy).toContain("&lt;script&gt;alert(&#39;crane&#39;)&lt;/script&gt;");
  });

  it("answers 404 for what does not exist or may not be pulled, and 405 for writes", async () => {
    for (const path of [
      "/ui/r/secret/thing",
      "/ui/r/nothing/here",
      "/ui/r/acme/app/-/t/nope",
      `/ui/r/acme/app/-/d/sha256:${"0".repeat(64)}`,
      "/ui/r/acme/app/-/x/latest",
      "/ui/nothing",
      "/ui/-/other.js",
    ]) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(res.headers["content-type"], path).toContain("text/html");
    }
    // An encoded slash never reaches the page: the server refuses it like any other route.
    expect((await get("/ui/r/acme/app/-/t/..%2f..")).status).toBe(404);
    expect((await get("/ui/r/..%2fetc")).status).toBe(404);
    expect((await get("/ui/r/%ZZ")).status).toBe(404);
    const secret = await get("/ui/r/secret/thing");
    const missing = await get("/ui/r/nothing/here");
    expect(secret.text).toBe(missing.text);
    expect((await rawRequest(server.url, "POST", "/ui/")).status).toBe(405);
    const head = await rawRequest(server.url, "HEAD", "/ui/");
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it("serves its script and stylesheet with a content hash and cache validators", async () => {
    const list = (await get("/ui/")).text;
    const js = /<script src="(\/ui\/-\/app\.js\?v=[a-f0-9]{16})" defer>/.exec(list)?.[1];
    const css = /<link rel="stylesheet" href="(\/ui\/-\/app\.css\?v=[a-f0-9]{16})">/.exec(list)?.[1];
    expect(js).toBeDefined();
    expect(css).toBeDefined();
    const script = await get(js ?? "");
    expect(script.status).toBe(200);
    expect(script.headers["content-type"]).toContain("text/javascript");
    expect(script.text).toContain("clipboard");
    const again = await get(js ?? "", { "If-None-Match": String(script.headers.etag) });
    expect(again.status).toBe(304);
    expect((await get(css ?? "")).text).toContain("prefers-color-scheme:dark");
  });

  describe("with the server's plug-ins", () => {
    it("shows only what canPull allows, answering 404 for the rest", async () => {
      const s = await startWithOptions(app, { canPull: (name) => name !== "hostile/app" });
      try {
        const list = await rawRequest(s.url, "GET", "/ui/");
        expect(list.body.toString()).toContain("acme/app");
        expect(list.body.toString()).not.toContain("hostile/app");
        expect((await rawRequest(s.url, "GET", "/ui/r/hostile/app")).status).toBe(404);
        expect((await rawRequest(s.url, "GET", "/ui/r/hostile/app/-/t/multi")).status).toBe(404);
        expect((await rawRequest(s.url, "GET", "/ui/r/acme/app")).status).toBe(200);
      } finally {
        await s.close();
      }
    });

    it("renders environments and a pull chart only when data is provided", async () => {
      const plain = (await get("/ui/r/acme/app/-/t/latest")).text;
      expect(plain).not.toContain("Environments");
      expect(plain).not.toContain("<svg");
      const s = await startWithOptions(app, {
        environments: (name, tag) =>
          tag === "latest" ? [{ name: `prod ${HOSTILE.label}`, since: "2025-05-01T00:00:00Z" }] : undefined,
        pullStats: () => [
          { day: "2025-05-01", pulls: 3 },
          { day: "2025-05-02", pulls: 10 },
          { day: "2025-05-03", pulls: 0 },
        ],
        registryHost: "registry.example.com",
        plainHttp: false,
      });
      try {
        const page = (await rawRequest(s.url, "GET", "/ui/r/acme/app/-/t/latest")).body.toString();
        expect(page).toContain('<h2 id="environments">Environments</h2>');
        expect(page).toContain("prod &lt;script&gt;");
        expect(page).toContain('<svg class="chart" role="img"');
        expect(page.match(/<rect class="bar"/g)).toHaveLength(3);
        expect(page).toContain("13 in total, at most 10 a day");
        expect(page).toContain("docker pull registry.example.com/acme/app:latest");
        expect(page).toContain("skopeo copy docker://registry.example.com/acme/app:latest oci:app:latest");
        expectClean(page, "tag page with plug-ins");
        await expectValid(page, "tag page with plug-ins");
        const repoPage = (await rawRequest(s.url, "GET", "/ui/r/acme/app")).body.toString();
        expect(repoPage).toContain('<svg class="chart"');
        expect((await rawRequest(s.url, "GET", "/ui/r/acme/app/-/t/1.0")).body.toString()).not.toContain(
          "Environments",
        );
      } finally {
        await s.close();
      }
    });
  });
});

describe("web page over object storage (redirect mode)", () => {
  let app: WebApp;
  let s3: RunningS3rver;
  let server: RunningRegistry;

  beforeAll(async () => {
    app = await makeWebApp();
    s3 = await startS3rver({ buckets: ["reg"] });
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: s3.credentials,
    });
    for (const [digest, bytes] of app.hostile.blobBytes) {
      await client.send(
        new PutObjectCommand({ Bucket: "reg", Key: `hostile-app/blobs/${digest}`, Body: bytes }),
      );
    }
    client.destroy();
    const conf = (await readFile(app.repo.configPath, "utf8")).replace("enable: true", "enable: false");
    await writeFile(app.repo.configPath, `${conf}[storage]\npublic_base_url = ${s3.endpoint}/reg\n`);
    server = await startRegistryServer({ configPath: app.repo.configPath, host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    await server.close();
    await s3.stop();
    await app.cleanup();
  });

  it("reads image configs from storage the way redirects reach it, and never shows its URL", async () => {
    const image = (await rawRequest(server.url, "GET", "/ui/r/hostile/app/-/t/constructor")).body.toString();
    expect(image).toContain('datetime="2025-03-04T05:06:07.000Z"');
    expect(image).toContain("proto-label");
    const repo = (await rawRequest(server.url, "GET", "/ui/r/hostile/app")).body.toString();
    expect(repo).toContain('datetime="2025-02-01T00:00:00.000Z"'); // multi: its linux/amd64 config
    const endpoint = new URL(s3.endpoint).host;
    for (const page of [image, repo]) {
      expect(page).not.toContain(endpoint);
      expectClean(page, "redirect-mode page");
    }
  });

  it("shows what the metadata has when a config is missing from storage", async () => {
    // acme/app's blobs were never uploaded: the page still renders, with the created date unknown.
    const res = await rawRequest(server.url, "GET", "/ui/r/acme/app/-/t/latest");
    expect(res.status).toBe(200);
    const text = res.body.toString();
    expect(text).toContain("The image configuration is not available to this page.");
    expect(text).toContain("2 layers, base first");
  });
});

describe("web page with thousands of repositories and tags", () => {
  let app: WebApp;
  let server: RunningRegistry;
  const get = async (path: string) => (await rawRequest(server.url, "GET", path)).body.toString();
  const rowsOf = (html: string) => [...html.matchAll(/<tr data-key="([^"]+)"/g)].map((m) => m[1] ?? "");

  beforeAll(async () => {
    app = await makeWebApp({ repositories: 1001, tags: 1100 });
    server = await startRegistryServer({ configPath: app.repo.configPath, host: "127.0.0.1", port: 0 });
  }, 120_000);
  afterAll(async () => {
    await server.close();
    await app.cleanup();
  });

  it("pages the list at 1,000 rows, and search reaches every repository", async () => {
    const first = await get("/ui/");
    expect(rowsOf(first)).toHaveLength(1000);
    expect(first).toContain("1005 repositories, showing 1–1000.");
    expect(first).toContain('href="/ui/?page=2" rel="next"');
    const second = await get("/ui/?page=2");
    expect(rowsOf(second)).toEqual([
      "bulk/repo-00998",
      "bulk/repo-00999",
      "bulk/repo-01000",
      "hostile/app",
      "legacy/tool",
    ]);
    expect(rowsOf(await get("/ui/?page=99999999999999999999"))).toEqual(rowsOf(second));
    expect(rowsOf(await get("/ui/?page=-3"))).toEqual(rowsOf(first));
    expect(rowsOf(await get(`/ui/?q=${encodeURIComponent("repo-01000")}`))).toEqual(["bulk/repo-01000"]);
  });

  it("pages a repository's tags at 1,000 rows, keeping sort and filter in the page links", async () => {
    const first = await get("/ui/r/bulk/many-tags?sort=tag&order=desc");
    expect(rowsOf(first)).toHaveLength(1000);
    expect(first).toContain("1103 of 1103 tags, showing 1–1000.");
    expect(first).toContain('href="/ui/r/bulk/many-tags?sort=tag&amp;order=desc&amp;page=2"');
    const second = rowsOf(await get("/ui/r/bulk/many-tags?sort=tag&order=desc&page=2"));
    expect(second).toHaveLength(103);
    expect(new Set([...rowsOf(first), ...second]).size).toBe(1103);
    expect(rowsOf(await get("/ui/r/bulk/many-tags?q=1.99"))).toEqual([
      "1.99.0",
      "1.990.0",
      "1.991.0",
      "1.992.0",
      "1.993.0",
      "1.994.0",
      "1.995.0",
      "1.996.0",
      "1.997.0",
      "1.998.0",
      "1.999.0",
    ]);
  });
});
