import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistryServer, type RunningRegistry } from "./start.js";
import { buildImages, makeAppRepo, publish, type AppRepo, type BuiltImage } from "./testing/fixture.js";

let repo: AppRepo;
let server: RunningRegistry;
let acme: BuiltImage;
const MASKED = `sha256:${"e".repeat(64)}`;

beforeAll(async () => {
  repo = await makeAppRepo(
    () => "[general]\ndata_dir: data\n[storage]\npublic_base_url: https://cdn.example.com/bucket\n",
  );
  acme = buildImages("acme/app", "acme-app", "acme");
  const single = acme.publication.manifests[0];
  if (single === undefined) throw new Error("fixture has no manifest");
  single.refs.push(MASKED as never);
  acme.publication.blobs.push({
    digest: MASKED as never,
    size: 3,
    url: "https://vendor.example.com/v2/base/blobs/x",
  });
  await publish(repo, "acme-acme-app.json", acme);
  // Bytes of the list are not in the app repo: the server must send the client to storage.
  await rm(join(repo.manifestDir, "acme-app", acme.publication.tags.multi as string));
  server = await startRegistryServer({ configPath: repo.configPath, host: "127.0.0.1", port: 0 });
});

afterAll(async () => {
  await server.close();
  await repo.cleanup();
});

const get = (path: string, init: RequestInit = {}) =>
  fetch(server.url + path, { redirect: "manual", ...init });

describe("raas registry, public redirect mode", () => {
  it("redirects a listed blob to the public base URL, and a masked blob to its vendor URL", async () => {
    const [digest] = [...acme.blobBytes.keys()];
    const res = await get(`/v2/acme/app/blobs/${digest}`);
    expect(res.status).toBe(307);
    expect(res.headers.get("location")).toBe(`https://cdn.example.com/bucket/acme-app/blobs/${digest}`);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    const masked = await get(`/v2/acme/app/blobs/${MASKED}`, { method: "HEAD" });
    expect([masked.status, masked.headers.get("location")]).toEqual([
      307,
      "https://vendor.example.com/v2/base/blobs/x",
    ]);
    expect((await get(`/v2/acme/app/blobs/sha256:${"9".repeat(64)}`)).status).toBe(404);
  });

  it("serves manifests from memory and redirects to storage when the bytes are not in the app repo", async () => {
    expect((await get("/v2/acme/app/manifests/latest")).status).toBe(200);
    const list = acme.publication.tags.multi as string;
    const res = await get("/v2/acme/app/manifests/multi", {
      headers: { Accept: "application/vnd.docker.distribution.manifest.list.v2+json" },
    });
    expect(res.status).toBe(307);
    expect(res.headers.get("location")).toBe(
      `https://cdn.example.com/bucket/acme-app/manifests/list/${list}`,
    );
    expect(res.headers.get("docker-content-digest")).toBe(list);
  });
});
