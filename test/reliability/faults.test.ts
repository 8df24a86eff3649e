/**
 * Faults between raas and S3: the real CLI pushes through the fault proxy to s3rver. At a 10%
 * fault rate (503 SlowDown, 500, connection resets, stalls) the push succeeds thanks to the
 * SDK's retries with backoff, and everything it published pulls back byte-exact. At 100% it
 * fails cleanly: exit 1, a message naming the endpoint, no internal error, nothing committed.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDockerArchive } from "../helpers/image-builder.js";
import { listTags, pullVerified } from "./reader.js";
import { startWorld, type World } from "./world.js";

const MIB = 1024 * 1024;

describe("S3 faults through a fault-injecting proxy", () => {
  let world: World;
  const head = () =>
    execFileSync("git", ["--git-dir", join(world.stateDir(), "app.git"), "rev-parse", "HEAD"], {
      encoding: "utf8",
    }).trim();

  beforeAll(async () => {
    // 5 MiB parts so the 12 MiB layers go multipart: faults then hit UploadPart and Complete too.
    world = await startWorld({
      proxy: { faultRate: 0, slowMs: 400, seed: 8 },
      s3Config: ["part_size = 5MiB", "concurrency = 3"],
    });
    const setup = await world.raas(["setup", world.isv]);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await world?.stop();
  });

  it("pushes through 10% faults with retries, and every byte pulls back verified", async () => {
    const image = await buildDockerArchive(join(world.work, "faulty.tar"), {
      name: "acme/faulty",
      tag: "1",
      layers: 12,
      layerSize: 256 * 1024,
      layerSeeds: Array.from({ length: 12 }, (_, i) => `f${i}`),
    });
    const big = await buildDockerArchive(join(world.work, "big.tar"), {
      name: "acme/faulty",
      tag: "2",
      layers: 2,
      layerSize: 12 * MIB,
      layerSeeds: ["big0", "big1"],
    });
    world.proxy.resetStats();
    world.proxy.setFaultRate(0.1);
    const first = await world.raas(["push", world.isv, image.path, "--no-wait", "--log", "debug"]);
    const second = await world.raas(["push", world.isv, big.path, "--no-wait", "--log", "debug"]);
    world.proxy.setFaultRate(0);
    const stats = world.proxy.stats();
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    const injected = Object.values(stats.faults).reduce((a, b) => a + b, 0);
    // The run really was faulty: the seeded generator injects several faults of several kinds.
    expect(injected).toBeGreaterThanOrEqual(3);
    expect(Object.values(stats.faults).filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    expect(stats.requests).toBeGreaterThan(20);
    expect(`${first.stderr}${second.stderr}`).toMatch(/\(\d+ attempts\)/);

    const registry = world.registryUrl;
    await expect.poll(() => listTags(registry, "acme/faulty"), { timeout: 15_000 }).toEqual(["1", "2"]);
    for (const [built, tag] of [
      [image, "1"],
      [big, "2"],
    ] as const) {
      const pulled = await pullVerified(registry, "acme/faulty", tag);
      expect(pulled).toMatchObject({
        state: "complete",
        blobs: (built.manifests[0]?.layers.length ?? 0) + 1,
      });
    }
  }, 120_000);

  it("fails cleanly at 100% faults, naming the endpoint, and commits nothing", async () => {
    const image = await buildDockerArchive(join(world.work, "doomed.tar"), {
      name: "acme/doomed",
      tag: "1",
      layers: 2,
      layerSize: 64 * 1024,
    });
    const before = head();
    world.proxy.setFaultRate(1);
    const started = Date.now();
    const run = await world.raas(["push", world.isv, image.path, "--no-wait"]);
    world.proxy.setFaultRate(0);
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stderr).toContain(`127.0.0.1:${world.proxy.port}`);
    // No crash: raas's own "internal error: " line (src/cli/main.ts) or a stack trace. The S3
    // error it names may itself say "We encountered an internal error" (a 500 InternalError).
    expect(run.stderr).not.toMatch(/^internal error: |\n\s+at /m);
    // Bounded retries: a dead endpoint is reported, not waited on forever.
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(head()).toBe(before);
    expect(await listTags(world.registryUrl, "acme/doomed")).toEqual([]);
  }, 90_000);
});
