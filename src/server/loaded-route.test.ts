/**
 * `GET /raas/loaded`: the registry reports, per repository, a digest of the tags it serves from
 * what it has loaded; `raas status` compares it with the metadata. A repository whose manifest
 * the registry cannot send itself reports a different digest, so status HEADs it tag by tag.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { servedTagsDigest } from "../crane/served-digest.js";
import { startRegistryServer, type RunningRegistry } from "./start.js";
import { buildImages, makeAppRepo, publish, type AppRepo, type BuiltImage } from "./testing/fixture.js";

let repo: AppRepo;
let server: RunningRegistry;
let acme: BuiltImage;
let other: BuiltImage;

beforeAll(async () => {
  repo = await makeAppRepo(
    (p) => `[general]
debug: false
data_dir: data
data_dir_polling_interval: 0.1
[serve_content]
enable: false
content_dir_v1: ${p.contentV1}
content_dir_v2: content/v2
[raas]
manifest_dir = manifests
`,
  );
  acme = buildImages("acme/app", "acme-app", "acme");
  other = buildImages("other/tool", "other-tool", "other");
  await publish(repo, "acme-acme-app.json", acme);
  await publish(repo, "other-other-tool.json", other);
  server = await startRegistryServer({
    configPath: repo.configPath,
    host: "127.0.0.1",
    port: 0,
    log: () => {},
  });
});

afterAll(async () => {
  await server.close();
  await repo.cleanup();
});

const loaded = async () => {
  const res = await fetch(`${server.url}/raas/loaded`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/json");
  return (await res.json()) as { repositories: Record<string, string>; tags: number; loadedAt: string };
};

describe("GET /raas/loaded", () => {
  it("reports each repository's served tags with the digest status computes from the metadata", async () => {
    const state = await loaded();
    expect(state.repositories).toEqual({
      "acme/app": servedTagsDigest(acme.publication.tags, () => true),
      "other/tool": servedTagsDigest(other.publication.tags, () => true),
    });
    expect(state.tags).toBe(
      Object.keys(acme.publication.tags).length + Object.keys(other.publication.tags).length,
    );
    expect(Number.isNaN(Date.parse(state.loadedAt))).toBe(false);
    // The digest depends on every tag and its manifest, whatever the order of the file.
    const tags = Object.entries(acme.publication.tags);
    const reversed = Object.fromEntries([...tags].reverse());
    expect(servedTagsDigest(reversed, () => true)).toBe(servedTagsDigest(acme.publication.tags, () => true));
    const [first] = tags;
    if (first === undefined) throw new Error("the fixture has no tag");
    const moved = { ...acme.publication.tags, [first[0]]: `sha256:${"0".repeat(64)}` };
    expect(servedTagsDigest(moved, () => true)).not.toBe(servedTagsDigest(acme.publication.tags, () => true));
  });

  it("reports a different digest once a tag's manifest cannot be served from the loaded files", async () => {
    const [tag, digest] = Object.entries(other.publication.tags)[0] ?? [];
    if (tag === undefined || digest === undefined) throw new Error("the fixture has no tag");
    await rm(join(repo.manifestDir, "other-tool", digest));
    const expected = servedTagsDigest(other.publication.tags, (_t, d) => d !== digest);
    await expect
      .poll(async () => (await loaded()).repositories["other/tool"], { timeout: 10_000 })
      .toBe(expected);
    expect(expected).not.toBe(servedTagsDigest(other.publication.tags, () => true));
    // A HEAD of that tag indeed no longer answers 200 with the digest (no serve_content, no storage).
    const head = await fetch(`${server.url}/v2/other/tool/manifests/${tag}`, {
      method: "HEAD",
      redirect: "manual",
    });
    expect(head.status === 200 && head.headers.get("docker-content-digest") === digest).toBe(false);
    expect((await loaded()).repositories["acme/app"]).toBe(
      servedTagsDigest(acme.publication.tags, () => true),
    );
  });

  it("has no sub-routes and refuses writes", async () => {
    expect((await fetch(`${server.url}/raas/loaded/acme`)).status).toBe(404);
    expect((await fetch(`${server.url}/raas/loaded`, { method: "POST" })).status).toBe(405);
  });
});
