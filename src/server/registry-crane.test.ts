import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MediaType } from "../image/media-types.js";
import { FOO_S2, METADATA_GOOD, ZOO_AMD64 } from "../crane/testing/crane-fixtures.js";
import { cdnRedirectUrl, cdnToken } from "./cdn.js";
import { startRegistryServer, type RunningRegistry } from "./start.js";
import { makeAppRepo, type AppRepo } from "./testing/fixture.js";

const LIST = MediaType.dockerManifestList;
const S2 = MediaType.dockerManifest;
const BLOB = `sha256:${"b".repeat(64)}`;

async function startWith(extraConfig: string): Promise<{ repo: AppRepo; server: RunningRegistry }> {
  const repo = await makeAppRepo(() => `[general]\ndata_dir: data\nendpoint: localhost:5000\n${extraConfig}`);
  for (const [name, content] of Object.entries(METADATA_GOOD)) {
    await writeFile(join(repo.dataDir, name), JSON.stringify(content));
  }
  const server = await startRegistryServer({ configPath: repo.configPath, host: "127.0.0.1", port: 0 });
  return { repo, server };
}

describe("plain Crane metadata, redirect mode (Crane's test vectors)", () => {
  let repo: AppRepo;
  let server: RunningRegistry;
  beforeAll(async () => ({ repo, server } = await startWith("")));
  afterAll(async () => {
    await server.close();
    await repo.cleanup();
  });
  const get = (path: string, accept?: string) =>
    fetch(server.url + path, { redirect: "manual", headers: accept === undefined ? {} : { Accept: accept } });

  it.each([
    [
      "/v2/redhat/zoo/manifests/1.25.1-musl",
      `${LIST}junk,${S2}`,
      "http://cdn.redhat.com/zoo/bar/manifests/2/1.25.1-musl",
    ],
    ["/v2/redhat/zoo/manifests/latest", LIST, "http://cdn.redhat.com/zoo/bar/manifests/list/latest"],
    ["/v2/redhat/zoo/manifests/latest", undefined, `http://cdn.redhat.com/zoo/bar/manifests/1/${ZOO_AMD64}`],
    ["/v2/redhat/zoo/manifests/bar", S2, `http://cdn.redhat.com/zoo/bar/manifests/2/${ZOO_AMD64}`],
    ["/v2/redhat/zoo/manifests/bar", undefined, "http://cdn.redhat.com/zoo/bar/manifests/1/bar"],
    [`/v2/redhat/zoo/manifests/${FOO_S2}`, S2, `http://cdn.redhat.com/zoo/bar/manifests/2/${FOO_S2}`],
    ["/v2/redhat/foo/manifests/123456789", S2, "http://cdn.redhat.com/foo/bar/manifests/1/123456789"],
    ["/v2/redhat/foo/manifests/123456789", LIST, "http://cdn.redhat.com/foo/bar/manifests/1/123456789"],
    ["/v2/redhat/foo/tags/latest", undefined, "http://cdn.redhat.com/foo/bar/tags/latest"],
    ["/v2/redhat/foo/tags/list", undefined, "http://cdn.redhat.com/foo/bar/tags/list"],
    [`/v2/redhat/foo/blobs/${BLOB}`, undefined, `http://cdn.redhat.com/foo/bar/blobs/${BLOB}`],
    [
      `/v2/registry/blobs/${BLOB}`,
      undefined,
      `https://oh-hey-beav-whats-up.os1.phx2.redhat.com/pulp/docker/v2/registry/blobs/${BLOB}`,
    ],
    [
      "/v2/registry/manifests/latest",
      S2,
      "https://oh-hey-beav-whats-up.os1.phx2.redhat.com/pulp/docker/v2/registry/manifests/latest",
    ],
  ])("redirects %s (Accept %s)", async (path, accept, location) => {
    const res = await get(path, accept);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(location);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
  });

  it.each([
    "/v2/no/name/test",
    "/v2/redhat/protected/manifests/latest",
    "/v2/redhat/zoo/manifests/a/b",
    "/v2/_catalog/x",
  ])("answers %s with a JSON 404", async (path) => {
    const res = await get(path);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/json");
  });

  it("lists unprotected v2 repositories in the catalog", async () => {
    expect(await (await get("/v2/_catalog")).json()).toEqual({
      repositories: ["bar", "redhat/foo", "redhat/zoo", "registry"],
    });
  });

  it("answers the v1 repository routes with Crane's bodies and headers", async () => {
    const images = await get("/v1/repositories/redhat/foo/images");
    expect(await images.text()).toBe('[{"id": "abc123"}, {"id": "xyz789"}]');
    expect(images.headers.get("x-docker-endpoints")).toBe("localhost:5000");
    expect(images.headers.get("x-docker-registry-config")).toBe("common");
    expect(await (await get("/v1/repositories/redhat/foo/tags")).text()).toBe(
      '{"latest": "abc123", "test": "def234"}',
    );
    expect(await (await get("/v1/repositories/redhat/foo/tags/test")).text()).toBe('"def234"');
    expect(await (await get("/v1/repositories/library/bar/tags")).text()).toBe(
      '{"latest": "def456", "test": "notlisted"}',
    );
    for (const path of [
      "/v1/repositories/a/b/c/d/images",
      "/v1/repositories/nop/tags/latest",
      "/v1/repositories/idontexist/tags",
      "/v1/repositories/baz/tags",
    ]) {
      const res = await get(path);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    }
    const users = await fetch(`${server.url}/v1/users/`, { method: "POST" });
    expect([users.status, await users.text()]).toEqual([201, '"User Created"']);
  });

  it("redirects v1 image files through the global image index", async () => {
    const a = await get("/v1/images/abc123/ancestry");
    expect([a.status, a.headers.get("location")]).toEqual([
      302,
      "http://cdn.redhat.com/foo/bar/images/abc123/ancestry",
    ]);
    const b = await get("/v1/images/def456/layer");
    expect(b.headers.get("location")).toBe("http://cdn.redhat.com/bar/baz/images/def456/layer");
    for (const path of [
      "/v1/images/idontexist/layer",
      "/v1/images/abc123/notvalid",
      "/v1/images/baz123/json",
    ]) {
      expect((await get(path)).status).toBe(404);
    }
  });
});

describe("plain Crane metadata, serve_content mode and CDN", () => {
  let repo: AppRepo;
  let server: RunningRegistry;
  beforeAll(async () => {
    ({ repo, server } = await startWith(
      "[serve_content]\nenable: true\ncontent_dir_v1: content/v1\ncontent_dir_v2: content/v2\nuse_x_sendfile: false\n",
    ));
    await mkdir(join(repo.contentV2, "zoo", "manifests", "list"), { recursive: true });
    await writeFile(join(repo.contentV2, "zoo", "manifests", "list", "latest"), '{"schemaVersion": 2}');
    await mkdir(join(repo.contentV1, "foo", "abc123"), { recursive: true });
    await writeFile(join(repo.contentV1, "foo", "abc123", "layer"), "layer-bytes");
  });
  afterAll(async () => {
    await server.close();
    await repo.cleanup();
  });

  it("serves files from content dirs with Crane's media types", async () => {
    const list = await fetch(`${server.url}/v2/redhat/zoo/manifests/latest`, { headers: { Accept: LIST } });
    expect([list.status, list.headers.get("content-type"), await list.text()]).toEqual([
      200,
      LIST,
      '{"schemaVersion": 2}',
    ]);
    expect(list.headers.get("cache-control")).toBe("public, max-age=60");
    const missing = await fetch(`${server.url}/v2/redhat/zoo/blobs/${BLOB}`);
    expect(missing.status).toBe(404);
    const layer = await fetch(`${server.url}/v1/images/abc123/layer`);
    expect([layer.status, layer.headers.get("content-type"), await layer.text()]).toEqual([
      200,
      "application/octet-stream",
      "layer-bytes",
    ]);
  });

  it("reproduces Crane's CDN token test vector and applies rewrite + token", () => {
    const token = cdnToken("/content/repo/manifests/123", Buffer.from("abc123", "hex"), 1933027200, "sha256");
    expect(token).toBe(
      "exp=1933027200~hmac=d039ac10e019fd13824a3f861b4f55df40e2a402d102b5266194fff6f3a24ed0",
    );
    const cdn = {
      urlMatch: "cdn.redhat.com",
      urlReplace: "cdn.fedora.com",
      authSecret: Buffer.from("abc123", "hex"),
      authTtl: 600,
      authParam: "_auth_",
      authAlgo: "sha256" as const,
    };
    const url = cdnRedirectUrl(
      "http://cdn.redhat.com/content/repo/manifests/123",
      cdn,
      new Date(1933026600_000),
    );
    expect(url).toBe(`http://cdn.fedora.com/content/repo/manifests/123?_auth_=${token}`);
  });
});
