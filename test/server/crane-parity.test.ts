/**
 * Crane's test vectors (FORMATS.md §6) not covered by src/server/registry-crane.test.ts:
 * /v1/search (built-in, GSA, Solr), the /crane admin view, X-Sendfile serve_content, the CDN
 * rewrite and token through a running server, and the 404 shapes.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MediaType } from "../../src/image/media-types.js";
import { cdnRedirectUrl, cdnToken } from "../../src/server/cdn.js";
import { startCraneServer, startPeer, type CraneServer, type Peer } from "./helpers.js";

const LIST = MediaType.dockerManifestList;
const BLOB = `sha256:${"b".repeat(64)}`;

describe("/v1/search with the built-in backend", () => {
  let crane: CraneServer;
  beforeAll(async () => {
    crane = await startCraneServer(
      "[search]\ndescription.registry = The Registry image\nofficial = registry\ntrusted = redhat/zoo\n",
    );
  });
  afterAll(() => crane.stop());
  const get = (q: string) => fetch(`${crane.server.url}/v1/search${q}`);

  it.each(["", "?q=", "?other=1"])("answers 400 when q is missing (%s)", async (query) => {
    const res = await get(query);
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('parameter "q" is required');
  });

  it.each([
    ["redhat", ["redhat/foo", "redhat/zoo"]],
    ["REGISTRY image", ["registry"]],
    ["nop", ["nop"]],
    // Protected repositories are never found: baz and qux (v1), redhat/protected (v2).
    ["baz", []],
    ["protected", []],
    ["zzz", []],
  ])("finds %s", async (q, names) => {
    const body = (await (await get(`?q=${encodeURIComponent(q)}`)).json()) as {
      num_results: number;
      query: string;
      results: { name: string }[];
    };
    expect(body.query).toBe(q);
    expect(body.num_results).toBe(names.length);
    expect(body.results.map((r) => r.name)).toEqual(names);
  });

  it("writes Crane's envelope in Flask's JSON form, with flags from the config", async () => {
    const res = await get("?q=registry");
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-docker-registry-version")).toBe("0.6.6");
    expect(await res.text()).toBe(
      '{"num_results": 1, "query": "registry", "results": [{"description": "The Registry image", ' +
        '"is_official": true, "is_trusted": false, "name": "registry", "should_filter": true, "star_count": 0}]}',
    );
  });
});

describe("/v1/search with a GSA backend (a loopback stand-in for the appliance)", () => {
  let crane: CraneServer;
  let gsa: Peer;
  let mode = "ok";
  beforeAll(async () => {
    gsa = await startPeer((_req, res) => {
      if (mode === "slow") return void setTimeout(() => res.end("<GSP/>"), 1500);
      if (mode === "error") return void res.writeHead(500).end("boom");
      if (mode === "junk") return void res.end("this is not xml");
      res.setHeader("Content-Type", "text/xml");
      res.end(`<?xml version="1.0" encoding="UTF-8"?>
<GSP VER="3.2"><TM>0.01</TM><Q>rhel</Q><RES SN="1" EN="4"><M>4</M>
<R N="1"><U>https://x/1</U><MT N="portal_name" V="redhat/foo"/><MT N="portal_short_description" V="Foo &amp; friends"/></R>
<R N="2"><MT V="baz" N="portal_name"/></R>
<R N="3"><MT N="portal_name" V="not/served"/></R>
<R N="4"><MT N="portal_short_description" V="no name"/></R>
<R N="5"><MT N='portal_name' V='nop'/></R>
</RES></GSP>`);
    });
    crane = await startCraneServer(
      `[gsa]\nurl = ${gsa.url}/search?site=docker&q=old\n[solr]\nurl = http://127.0.0.1:9/{0}\n`,
    );
  });
  afterAll(async () => {
    await crane.stop();
    await gsa.close();
  });

  it("merges q into the configured query, parses MT elements and keeps only served, visible repos", async () => {
    mode = "ok";
    const res = await fetch(`${crane.server.url}/v1/search?q=rhel%207`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      num_results: number;
      results: { name: string; description: string }[];
    };
    expect(body.results).toEqual([
      expect.objectContaining({ name: "redhat/foo", description: "Foo & friends", should_filter: true }),
      expect.objectContaining({ name: "nop", description: "" }),
    ]);
    expect(body.num_results).toBe(2);
    expect(gsa.requests.at(-1)).toBe("/search?site=docker&q=rhel+7");
  });

  it.each([
    ["error", 502],
    ["junk", 502],
    ["slow", 504],
  ])("maps a %s backend to %i", async (which, status) => {
    mode = which;
    expect((await fetch(`${crane.server.url}/v1/search?q=x`)).status).toBe(status);
  });
});

describe("/v1/search with a Solr backend (a loopback stand-in)", () => {
  let crane: CraneServer;
  let solr: Peer;
  beforeAll(async () => {
    solr = await startPeer((_req, res) => {
      res.setHeader("Content-Type", "application/json");
      res.end(
        JSON.stringify({
          response: {
            docs: [
              {
                documentKind: "ImageRepository",
                allTitle: "redhat/zoo",
                ir_description: "Zoo",
                ir_stars: 3,
                ir_official: true,
              },
              { documentKind: "ImageRepository", allTitle: "secret/thing", publishedAbstract: "hidden" },
              {
                documentKind: "CertifiedSoftware",
                c_pull_command: ["docker pull vendor/app:1"],
                ir_automated: true,
              },
              { documentKind: "CertifiedSoftware" },
              { documentKind: "Article", allTitle: "An article", publishedAbstract: "text" },
            ],
          },
        }),
      );
    });
    crane = await startCraneServer(`[solr]\nurl = ${solr.url}/select?q={0}&wt=json\n`);
  });
  afterAll(async () => {
    await crane.stop();
    await solr.close();
  });

  it("quotes the query like urllib.quote and applies Crane's should_filter rules", async () => {
    const body = (await (await fetch(`${crane.server.url}/v1/search?q=hi%20mom~`)).json()) as {
      results: Record<string, unknown>[];
    };
    expect(solr.requests.at(-1)).toBe("/select?q=hi%20mom%7E&wt=json");
    expect(body.results).toEqual([
      {
        name: "redhat/zoo",
        description: "Zoo",
        is_official: true,
        is_trusted: false,
        star_count: 3,
        should_filter: true,
      },
      {
        name: "vendor/app:1",
        description: null,
        is_official: false,
        is_trusted: true,
        star_count: 0,
        should_filter: false,
      },
      {
        name: "An article",
        description: "text",
        is_official: false,
        is_trusted: false,
        star_count: 0,
        should_filter: false,
      },
    ]);
  });
});

describe("/crane/repositories admin view", () => {
  let crane: CraneServer;
  beforeAll(async () => (crane = await startCraneServer("")));
  afterAll(() => crane.stop());
  const get = (path: string, accept?: string) =>
    fetch(crane.server.url + path, accept === undefined ? {} : { headers: { Accept: accept } });

  it("answers JSON only for exactly Accept: application/json", async () => {
    const v1 = (await (await get("/crane/repositories", "application/json")).json()) as Record<
      string,
      unknown
    >;
    expect(v1["redhat/foo"]).toEqual({
      image_ids: ["abc123", "xyz789"],
      protected: false,
      tags: { latest: "abc123", test: "def234" },
    });
    expect(Object.keys(v1).sort()).toEqual(["bar", "baz", "nop", "qux", "redhat/foo"]);
    expect(await (await get("/crane/repositories/v2", "application/json")).json()).toEqual({
      bar: { protected: false },
      "redhat/foo": { protected: false },
      "redhat/protected": { protected: true },
      "redhat/zoo": { protected: false },
      registry: { protected: false },
    });
    for (const accept of [undefined, "application/json, text/html", "text/html"]) {
      const res = await get("/crane/repositories/v1", accept);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      expect(await res.text()).toContain("redhat/foo");
    }
    expect((await get("/crane/other")).status).toBe(404);
    expect((await get("/crane/repositories/v3")).status).toBe(404);
  });
});

describe("serve_content with X-Sendfile, CDN through the server, and 404 shapes", () => {
  let crane: CraneServer;
  beforeAll(async () => {
    crane = await startCraneServer(
      [
        "[cdn]",
        "url_match = cdn.redhat.com",
        "url_replace = cdn.fedora.com",
        "url_auth_secret = abc123",
        "url_auth_ttl = 600",
      ].join("\n"),
    );
  });
  afterAll(() => crane.stop());

  it("rewrites v2 redirects and signs them with a token that verifies", async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await fetch(`${crane.server.url}/v2/redhat/foo/blobs/${BLOB}`, { redirect: "manual" });
    const location = res.headers.get("location") ?? "";
    const match =
      /^http:\/\/cdn\.fedora\.com\/foo\/bar\/blobs\/(sha256:b+)\?_auth_=exp=(\d+)~hmac=([0-9a-f]{64})$/.exec(
        location,
      );
    expect(match).not.toBeNull();
    const exp = Number(match?.[2]);
    expect(exp).toBeGreaterThanOrEqual(before + 600);
    expect(exp).toBeLessThanOrEqual(before + 602);
    expect(cdnToken(`/foo/bar/blobs/${BLOB}`, Buffer.from("abc123", "hex"), exp, "sha256")).toBe(
      `exp=${exp}~hmac=${match?.[3]}`,
    );
    // Crane would append a second `?` to a URL with a query; the token joins with `&` instead.
    const cdn = {
      urlMatch: "",
      urlReplace: "",
      authSecret: Buffer.from("abc123", "hex"),
      authTtl: 300,
      authParam: "_auth_",
      authAlgo: "sha256" as const,
    };
    const signed = cdnRedirectUrl("https://cdn.example/p/blob?x=1", cdn, new Date(1_000_000_000_000));
    expect(signed).toBe(
      `https://cdn.example/p/blob?x=1&_auth_=${cdnToken("/p/blob", cdn.authSecret, 1_000_000_300, "sha256")}`,
    );
    // v1 redirects are never rewritten or signed.
    const v1 = await fetch(`${crane.server.url}/v1/images/abc123/json`, { redirect: "manual" });
    expect(v1.headers.get("location")).toBe("http://cdn.redhat.com/foo/bar/images/abc123/json");
  });

  it.each([
    ["/v2/no/name/test", "application/json", "NOT_FOUND"],
    ["/v2/idontexist/manifests/latest", "application/json", "NAME_UNKNOWN"],
    ["/v2/redhat/protected/manifests/latest", "application/json", "NAME_UNKNOWN"],
    ["/v2/Bad_Name/manifests/latest", "application/json", "NAME_INVALID"],
    ["/v2/redhat/foo/blobs/123", "application/json", "DIGEST_INVALID"],
    ["/v1/repositories/idontexist/images", "text/html; charset=utf-8", undefined],
    ["/v1/foo", "text/html; charset=utf-8", undefined],
    ["/nothing/here", "text/html; charset=utf-8", undefined],
  ])("answers %s with the right error shape", async (path, type, code) => {
    const res = await fetch(crane.server.url + path);
    expect(res.status).toBe(code === "NAME_INVALID" || code === "DIGEST_INVALID" ? 400 : 404);
    expect(res.headers.get("content-type")).toBe(type);
    if (code !== undefined) {
      const body = (await res.json()) as { errors: { code: string }[] };
      expect(body.errors[0]?.code).toBe(code);
      expect(res.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
    }
  });
});

describe("serve_content with X-Sendfile (Apache mode)", () => {
  let crane: CraneServer;
  beforeAll(async () => {
    crane = await startCraneServer(
      "[serve_content]\nenable: true\ncontent_dir_v1: content/v1\ncontent_dir_v2: content/v2\n",
    );
    const list = join(crane.repo.contentV2, "zoo", "manifests", "list");
    await mkdir(list, { recursive: true });
    await writeFile(join(list, "latest"), "{}");
    await mkdir(join(crane.repo.contentV1, "foo", "abc123"), { recursive: true });
    await writeFile(join(crane.repo.contentV1, "foo", "abc123", "layer"), "x");
  });
  afterAll(() => crane.stop());

  it.each([
    ["/v2/redhat/zoo/manifests/latest", LIST, "v2", "zoo/manifests/list/latest", LIST],
    ["/v1/images/abc123/layer", undefined, "v1", "foo/abc123/layer", "application/octet-stream"],
  ])("answers %s with an empty body and X-Sendfile", async (path, accept, dir, file, type) => {
    const res = await fetch(
      crane.server.url + path,
      accept === undefined ? {} : { headers: { Accept: accept } },
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
    const base = dir === "v2" ? crane.repo.contentV2 : crane.repo.contentV1;
    expect(res.headers.get("x-sendfile")).toBe(join(base, file));
    expect(res.headers.get("content-type")).toBe(type);
  });

  it("answers 404 when the file is missing", async () => {
    const res = await fetch(`${crane.server.url}/v2/redhat/zoo/blobs/${BLOB}`);
    expect(res.status).toBe(404);
  });
});
