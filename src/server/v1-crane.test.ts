/**
 * The v1 API against Crane's test vectors (FORMATS.md §2.1-2.3, §6: tests/views/test_ping.py,
 * test_repositories.py, test_images.py), one row per request: status, Location, the headers
 * that matter and the body. Then federation: an ISV file and a vendor file in one data dir,
 * as raas push lays them out (data/v1/, data/redhat/).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METADATA_GOOD } from "../crane/testing/crane-fixtures.js";
import { startRegistryServer, type RunningRegistry } from "./start.js";
import { makeAppRepo, type AppRepo } from "./testing/fixture.js";

const V1 = { "x-docker-registry-version": "0.6.6", "x-docker-registry-config": "common" };
const JSON_TYPE = "application/json";
const HTML = "text/html";

interface Row {
  path: string;
  method?: string;
  status: number;
  location?: string;
  type: string;
  body?: string;
  headers?: Record<string, string>;
}

const CRANE_ROWS: Row[] = [
  {
    path: "/v1/_ping",
    status: 200,
    type: JSON_TYPE,
    body: "true",
    headers: { "x-docker-registry-standalone": "True" },
  },
  {
    path: "/v1/users/",
    status: 200,
    type: JSON_TYPE,
    body: '"OK"',
    headers: { "x-docker-registry-standalone": "True" },
  },
  { path: "/v1/users/", method: "POST", status: 201, type: JSON_TYPE, body: '"User Created"' },
  {
    path: "/v1/repositories/redhat/foo/images",
    status: 200,
    type: JSON_TYPE,
    body: '[{"id": "abc123"}, {"id": "xyz789"}]',
    headers: { "x-docker-endpoints": "localhost:5000" },
  },
  {
    path: "/v1/repositories/redhat/foo/tags",
    status: 200,
    type: JSON_TYPE,
    body: '{"latest": "abc123", "test": "def234"}',
  },
  { path: "/v1/repositories/redhat/foo/tags/test", status: 200, type: JSON_TYPE, body: '"def234"' },
  {
    path: "/v1/repositories/library/bar/tags",
    status: 200,
    type: JSON_TYPE,
    body: '{"latest": "def456", "test": "notlisted"}',
  },
  { path: "/v1/repositories/bar/tags/latest", status: 200, type: JSON_TYPE, body: '"def456"' },
  { path: "/v1/repositories/a/b/c/d/images", status: 404, type: HTML },
  { path: "/v1/repositories/nop/tags/latest", status: 404, type: HTML },
  { path: "/v1/repositories/nop/tags/test", status: 404, type: HTML },
  { path: "/v1/repositories/idontexist/tags", status: 404, type: HTML },
  { path: "/v1/repositories/baz/tags", status: 404, type: HTML },
  {
    path: "/v1/images/abc123/ancestry",
    status: 302,
    type: HTML,
    location: "http://cdn.redhat.com/foo/bar/images/abc123/ancestry",
  },
  {
    path: "/v1/images/def456/layer",
    status: 302,
    type: HTML,
    location: "http://cdn.redhat.com/bar/baz/images/def456/layer",
  },
  {
    path: "/v1/images/xyz789/json",
    status: 302,
    type: HTML,
    location: "http://cdn.redhat.com/foo/bar/images/xyz789/json",
  },
  { path: "/v1/images/idontexist/layer", status: 404, type: HTML },
  { path: "/v1/images/abc123/notvalid", status: 404, type: HTML },
  { path: "/v1/images/baz123/json", status: 404, type: HTML },
];

async function check(server: RunningRegistry, row: Row): Promise<void> {
  const res = await fetch(server.url + row.path, { method: row.method ?? "GET", redirect: "manual" });
  const body = await res.text();
  const seen = {
    status: res.status,
    location: res.headers.get("location") ?? undefined,
    type:
      res.headers.get("content-type")?.startsWith(row.type) === true
        ? row.type
        : res.headers.get("content-type"),
    ...(row.body === undefined ? {} : { body }),
    headers: Object.fromEntries(
      Object.keys({ ...V1, ...row.headers }).map((name) => [name, res.headers.get(name) ?? undefined]),
    ),
  };
  expect(seen).toEqual({
    status: row.status,
    location: row.location,
    type: row.type,
    ...(row.body === undefined ? {} : { body: row.body }),
    headers: { ...V1, ...row.headers },
  });
}

describe("v1 API: Crane's vectors", () => {
  let repo: AppRepo;
  let server: RunningRegistry;
  beforeAll(async () => {
    repo = await makeAppRepo(() => "[general]\ndata_dir: data\nendpoint: localhost:5000\n");
    for (const [name, content] of Object.entries(METADATA_GOOD)) {
      await writeFile(join(repo.dataDir, name), JSON.stringify(content));
    }
    server = await startRegistryServer({ configPath: repo.configPath, host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    await server.close();
    await repo.cleanup();
  });
  it.each(CRANE_ROWS.map((row) => [`${row.method ?? "GET"} ${row.path}`, row] as const))(
    "%s",
    async (_, row) => {
      await check(server, row);
    },
  );
});

const id = (c: string) => c.repeat(64);
const VENDOR = { base: id("a"), update: id("b") };
const ISV = { runtime: id("c"), app: id("d") };

function pulpV1(meta: {
  repository: string;
  name: string;
  url: string;
  images: string[];
  tags: Record<string, string>;
}) {
  return JSON.stringify({
    type: "pulp-docker-redirect",
    version: 1,
    repository: meta.repository,
    "repo-registry-id": meta.name,
    url: meta.url,
    protected: false,
    images: meta.images.map((i) => ({ id: i })),
    tags: meta.tags,
  });
}

for (const mode of ["redirect", "serve_content"] as const) {
  describe(`v1 federation (${mode} mode)`, () => {
    let repo: AppRepo;
    let server: RunningRegistry;
    beforeAll(async () => {
      repo = await makeAppRepo(() =>
        mode === "redirect"
          ? "[general]\ndata_dir: data\n"
          : "[general]\ndata_dir: data\n[serve_content]\nenable: true\ncontent_dir_v1: content/v1\ncontent_dir_v2: content/v2\nuse_x_sendfile: false\n",
      );
      await mkdir(join(repo.dataDir, "v1"), { recursive: true });
      await mkdir(join(repo.dataDir, "redhat"), { recursive: true });
      await writeFile(
        join(repo.dataDir, "v1", "acme-acme-app.json"),
        pulpV1({
          repository: "acme-app",
          name: "acme/app",
          // raas writes file: URLs for local storage, which the server serves itself.
          url:
            mode === "redirect"
              ? "https://isv.example.com/bucket/acme-app/"
              : `file://${repo.contentV1}/acme-app/`,
          images: [ISV.runtime, ISV.app],
          tags: { latest: ISV.app },
        }),
      );
      // Two vendor files list the base id: the one first in path order (rhel6.json) wins, always.
      await writeFile(
        join(repo.dataDir, "redhat", "rhel6.json"),
        pulpV1({
          repository: "rhel6",
          name: "rhel6",
          url: "https://cdn.vendor.example/rhel6",
          images: [VENDOR.base],
          tags: {},
        }),
      );
      await writeFile(
        join(repo.dataDir, "redhat", "rhel7.json"),
        pulpV1({
          repository: "rhel7",
          name: "rhel7",
          url: "https://cdn.vendor.example/rhel7/",
          images: [VENDOR.base, VENDOR.update],
          tags: { latest: VENDOR.update },
        }),
      );
      await mkdir(join(repo.contentV1, "acme-app", ISV.app), { recursive: true });
      await writeFile(join(repo.contentV1, "acme-app", ISV.app, "ancestry"), `["${ISV.app}"]`);
      server = await startRegistryServer({ configPath: repo.configPath, host: "127.0.0.1", port: 0 });
    });
    afterAll(async () => {
      await server.close();
      await repo.cleanup();
    });

    const isvAncestry: Row =
      mode === "redirect"
        ? {
            path: `/v1/images/${ISV.app}/ancestry`,
            status: 302,
            type: HTML,
            location: `https://isv.example.com/bucket/acme-app/${ISV.app}/ancestry`,
          }
        : { path: `/v1/images/${ISV.app}/ancestry`, status: 200, type: JSON_TYPE, body: `["${ISV.app}"]` };
    const rows: Row[] = [
      {
        path: "/v1/repositories/acme/app/tags",
        status: 200,
        type: JSON_TYPE,
        body: `{"latest": "${ISV.app}"}`,
      },
      isvAncestry,
      {
        path: `/v1/images/${VENDOR.update}/layer`,
        status: 302,
        type: HTML,
        location: `https://cdn.vendor.example/rhel7/${VENDOR.update}/layer`,
      },
      {
        path: `/v1/images/${VENDOR.base}/json`,
        status: 302,
        type: HTML,
        location: `https://cdn.vendor.example/rhel6/${VENDOR.base}/json`,
      },
    ];
    if (mode === "serve_content") {
      // The ISV's own files are local (file: storage): a missing one is a 404, never a redirect.
      rows.push({ path: `/v1/images/${ISV.runtime}/layer`, status: 404, type: HTML });
    }
    it.each(rows.map((row) => [row.path, row] as const))("%s", async (_, row) => {
      await check(server, row);
    });
  });
}
