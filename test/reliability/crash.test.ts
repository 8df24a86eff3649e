/**
 * Crash safety (long: about a minute and a half). The real CLI pushes multi-layer images to S3
 * through a proxy that slows every request, and is SIGKILLed (its whole process group, git
 * included, as a CI runner does) at a random point of the push: the kill times are spread over
 * the whole duration of a measured push, from reading the archive to the metadata commit.
 * Meanwhile a reader keeps pulling every tag through the registry and hashing every blob.
 *
 * Afterwards each killed push is run again and completes, `raas status` is clean, and the
 * reader never got a manifest whose blobs were missing or wrong.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDockerArchive } from "../helpers/image-builder.js";
import { listTags, pullVerified } from "./reader.js";
import { startWorld, type World } from "./world.js";

const KILLS = 24;
/** The bar: at least this many pushes really die mid-way. */
const MIN_KILLED = 20;
const REPO = "acme/crashy";

describe("SIGKILL during raas push", () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({
      isv: "crash",
      // Every S3 request waits 40 ms: a push then takes seconds, not milliseconds, so the kills
      // land inside uploads, between manifests and tags, and around the git push alike.
      proxy: { delayMs: 40 },
      s3Config: ["part_size = 5MiB", "concurrency = 2"],
    });
    const setup = await world.raas(["setup", world.isv]);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await world?.stop();
  });

  it("never exposes a torn image, and every killed push completes when run again", async () => {
    // Distinct seeds, so every run has real uploads to do. Every fifth image has 5.5 MiB layers,
    // which go multipart (two 5 MiB-minimum parts): those runs die inside multipart uploads.
    const built = [];
    for (let i = 0; i < KILLS; i++) {
      built[i] = await buildDockerArchive(join(world.work, `r${i}.tar`), {
        name: REPO,
        tag: `r${i}`,
        layers: 3,
        layerSeeds: [`r${i}-0`, `r${i}-1`, `r${i}-2`],
        layerSize: i % 5 === 2 ? 5.5 * 1024 * 1024 : 768 * 1024,
      });
    }
    // Calibrate on warm pushes: the first push of a run also pays for the clone of the app
    // repository and cold caches, and on a fast machine that alone can be most of it.
    let duration = Number.POSITIVE_INFINITY;
    for (const tag of ["calib", "calib2"]) {
      const calibration = await buildDockerArchive(join(world.work, `${tag}.tar`), {
        name: REPO,
        tag,
        layers: 3,
        layerSeeds: [`${tag}-0`, `${tag}-1`, `${tag}-2`],
        layerSize: 768 * 1024,
      });
      const t0 = Date.now();
      const calib = await world.raas(["push", world.isv, calibration.path, "--no-wait"]);
      expect(calib.code, calib.stderr).toBe(0);
      duration = Date.now() - t0;
    }

    // The reader pulls, over and over until the pushes are done, the tag being pushed right now
    // (where a torn state would show) and one published earlier, every blob hashed.
    const torn: string[] = [];
    let pulls = 0;
    let current = "calib";
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const tags = await listTags(world.registryUrl, REPO).catch(() => []);
        const earlier = tags[Math.floor(Math.random() * tags.length)];
        for (const tag of new Set([current, ...(earlier === undefined ? [] : [earlier])])) {
          try {
            // A connection the loaded machine dropped ("fetch failed", no answer at all) is not
            // a torn image: that pull is made once more; any answer that is wrong is a failure.
            const result = await pullVerified(world.registryUrl, REPO, tag).catch(async (error: unknown) => {
              if (!(error instanceof TypeError && error.message === "fetch failed")) throw error;
              await new Promise((r) => setTimeout(r, 200));
              return pullVerified(world.registryUrl, REPO, tag);
            });
            if (result.state === "complete") pulls += 1;
          } catch (error) {
            torn.push(`${tag}: ${error instanceof Error ? error.message : String(error)}`);
          }
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const outcomes: { delay: number; killed: boolean }[] = [];
    try {
      for (let i = 0; i < KILLS; i++) {
        const path = built[i]?.path ?? "";
        // Stratified: run i dies somewhere in the i-th slice of a whole push. Later pushes run
        // warm and a little faster than the calibration, so the window is 85% of it.
        const delay = Math.round((0.85 * duration * (i + Math.random())) / KILLS);
        current = `r${i}`;
        const started = Date.now();
        const run = world.spawnRaas(["push", world.isv, path, "--no-wait"]);
        const timer = setTimeout(() => run.kill(), delay);
        const result = await run.done;
        clearTimeout(timer);
        outcomes.push({ delay, killed: result.signal === "SIGKILL" });
        if (result.signal !== "SIGKILL") {
          expect(result.code, result.stderr).toBe(0);
          // A push that beat its kill shows pushes run faster than calibrated: later kills are
          // spread over the shorter window, so they still land inside a push.
          duration = Math.min(duration, Date.now() - started);
        }

        const rerun = await world.raas(["push", world.isv, path, "--no-wait"]);
        expect(rerun.code, `rerun after a kill at ${delay} ms:\n${rerun.stdout}${rerun.stderr}`).toBe(0);
      }
    } finally {
      reading = false;
      await reader;
    }

    const killed = outcomes.filter((o) => o.killed).length;
    console.log(`crash: push ${duration} ms, ${killed}/${KILLS} killed, ${pulls} verified pulls, 0 torn`);
    expect(torn).toEqual([]);
    // At least MIN_KILLED runs really died mid-push (a few may finish just before their kill),
    // and the reader really was reading throughout.
    expect(killed).toBeGreaterThanOrEqual(MIN_KILLED);
    expect(pulls).toBeGreaterThan(KILLS);

    // The registry picks up new metadata within its polling interval (2 s).
    const all = ["calib", "calib2", ...built.map((b) => b.tag)].sort();
    await expect.poll(() => listTags(world.registryUrl, REPO), { timeout: 15_000 }).toEqual(all);
    const tags = await listTags(world.registryUrl, REPO);
    expect(tags).toEqual(["calib", "calib2", ...built.map((b) => b.tag)].sort());
    for (const tag of tags) expect((await pullVerified(world.registryUrl, REPO, tag)).state).toBe("complete");
    const status = await world.raas(["status", world.isv, "--json"]);
    expect(status.code, status.stdout + status.stderr).toBe(0);
  }, 600_000);
});
