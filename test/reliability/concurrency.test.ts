/**
 * Four `raas push` processes for one ISV at once: two into the same repository (different
 * tags), two into repositories of their own. A pre-receive hook on the app remote holds each
 * git push until a second one arrives, so at least two of them race for the branch and the
 * losers must recompute their metadata on top of the winner's commit (GitAppRepository.update).
 * Afterwards every tag is in the metadata, served by the registry, and `raas status` is clean.
 */
import { execFileSync } from "node:child_process";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDockerArchive, buildOciLayout, type BuiltImage } from "../helpers/image-builder.js";
import { listTags, pullVerified } from "./reader.js";
import { startWorld, type World } from "./world.js";

const barrierHook = (dir: string) => `#!/bin/sh
# Test barrier: hold this push until another one is in flight too (at most 5 s), so that
# concurrent publishes really race for refs/heads/main.
touch "${dir}/$$"
i=0
while [ "$(ls "${dir}" | wc -l)" -lt 2 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
exit 0
`;

describe("concurrent pushes to one ISV", () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ isv: "conc" });
    const setup = await world.raas(["setup", world.isv]);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await world?.stop();
  });

  it("lands all four, retrying the pushes that lost the race, with no lost metadata", async () => {
    const images: BuiltImage[] = [
      await buildDockerArchive(join(world.work, "a.tar"), { name: "acme/shared", tag: "a", layers: 3 }),
      await buildDockerArchive(join(world.work, "b.tar"), { name: "acme/shared", tag: "b", layers: 2 }),
      await buildDockerArchive(join(world.work, "c.tar"), { name: "acme/tools", tag: "1.0", layers: 2 }),
      await buildOciLayout(join(world.work, "d.tar"), {
        name: "acme/web",
        tag: "2.0",
        layers: 2,
        gzip: true,
      }),
    ];
    const remote = join(world.stateDir(), "app.git");
    const barrier = join(world.work, "barrier");
    await mkdir(barrier);
    const hook = join(remote, "hooks", "pre-receive");
    await writeFile(hook, barrierHook(barrier));
    await chmod(hook, 0o755);

    const runs = await Promise.all(
      images.map((image) => world.raas(["push", world.isv, image.path, "--log", "debug", "--timeout", "30"])),
    );
    for (const run of runs) expect(run.code, run.stdout + run.stderr).toBe(0);
    // The barrier guarantees a race; the transaction must have recomputed at least once.
    expect(runs.map((r) => r.stderr).join("\n")).toMatch(/lost a race \(attempt 1\); recomputing/);

    const show = (file: string) =>
      JSON.parse(
        execFileSync("git", ["--git-dir", remote, "show", `HEAD:${file}`], { encoding: "utf8" }),
      ) as {
        "x-raas"?: { tags?: Record<string, string> };
      };
    expect(Object.keys(show("data/conc-acme-shared.json")["x-raas"]?.tags ?? {}).sort()).toEqual(["a", "b"]);
    expect(Object.keys(show("data/conc-acme-tools.json")["x-raas"]?.tags ?? {})).toEqual(["1.0"]);
    expect(Object.keys(show("data/conc-acme-web.json")["x-raas"]?.tags ?? {})).toEqual(["2.0"]);
    const log = execFileSync("git", ["--git-dir", remote, "log", "--format=%s"], { encoding: "utf8" });
    expect(log.match(/^conc push /gm)).toHaveLength(4);

    const registry = world.registryUrl;
    await expect.poll(() => listTags(registry, "acme/shared"), { timeout: 15_000 }).toEqual(["a", "b"]);
    for (const image of images) {
      const pulled = await pullVerified(registry, image.name, image.tag);
      expect(pulled.state, `${image.name}:${image.tag}`).toBe("complete");
    }
    const status = await world.raas(["status", world.isv, "--json"]);
    expect(status.code, status.stdout + status.stderr).toBe(0);
  }, 120_000);
});
