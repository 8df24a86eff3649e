/**
 * The re-push of an unchanged image writes nothing to storage: every blob is already there (one
 * HEAD each), and the manifests, the tag objects and `tags/list` already hold the same bytes.
 * Requests are counted at the proxy between raas and s3rver. A push that does change something
 * (a new tag) writes exactly what changed.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildOciLayout, type BuiltImage } from "../helpers/image-builder.js";
import { listTags, pullVerified } from "./reader.js";
import { startWorld, type World } from "./world.js";

interface PushJson {
  commit?: string;
  images: { digest: string; counts: { uploaded: number; present: number } }[];
}

describe("re-push of an unchanged image", () => {
  let world: World;
  let image: BuiltImage;

  beforeAll(async () => {
    world = await startWorld({ isv: "again" });
    const setup = await world.raas(["setup", world.isv]);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    // A multi-platform index: manifests by digest at two levels, one tag.
    image = await buildOciLayout(join(world.work, "multi.tar"), {
      name: "acme/multi",
      tag: "1.0",
      layers: 2,
      platforms: [
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm64" },
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await world?.stop();
  });

  const push = async (...extra: string[]): Promise<PushJson> => {
    const run = await world.raas(["push", world.isv, image.path, "--json", ...extra]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    return JSON.parse(run.stdout) as PushJson;
  };

  it("makes no PUT the second time, and the image is still served whole", async () => {
    const first = await push();
    expect(first.images[0]?.counts.uploaded).toBeGreaterThan(0);
    expect(world.proxy.stats().byMethod.PUT ?? 0).toBeGreaterThan(0);

    world.proxy.resetStats();
    const again = await push();
    expect(again.images[0]?.counts.uploaded).toBe(0);
    expect(again.commit).toBeUndefined();
    const stats = world.proxy.stats();
    // The registry's own pull statistics (under `.raas/`) may be written at any time; nothing else.
    expect(stats.putPaths.filter((p) => !p.includes("/.raas/"))).toEqual([]);
    expect(stats.byMethod).not.toHaveProperty("POST");
    expect(stats.byMethod.HEAD ?? 0).toBeGreaterThan(0);

    expect(await listTags(world.registryUrl, "acme/multi")).toEqual(["1.0"]);
    expect(await pullVerified(world.registryUrl, "acme/multi", "1.0")).toMatchObject({
      state: "complete",
      digest: first.images[0]?.digest,
    });
  }, 120_000);

  it("writes only the new tag object and tags/list when a tag is added", async () => {
    world.proxy.resetStats();
    const tagged = await push("--tag", "1.0", "--tag", "latest");
    expect(tagged.images[0]?.counts.uploaded).toBe(0);
    expect(tagged.commit).toBeDefined();
    // `latest` (the index by tag) and `tags/list`; `1.0` and every manifest by digest are unchanged.
    // (The registry writes its own pull statistics under `.raas/` in the same bucket at any time.)
    const published = world.proxy.stats().putPaths.filter((p) => !p.includes("/.raas/"));
    expect(published).toHaveLength(2);
    expect(published.some((p) => p.endsWith("/tags/list"))).toBe(true);
    expect(await listTags(world.registryUrl, "acme/multi")).toEqual(["1.0", "latest"]);
    expect(await pullVerified(world.registryUrl, "acme/multi", "latest")).toMatchObject({
      state: "complete",
      digest: tagged.images[0]?.digest,
    });
  }, 120_000);
});
