/**
 * `raas sync --env` end to end: a Debian `docker-registry` (distribution 2.8) upstream seeded
 * with skopeo, an ISV with test, uat and prod sharing one store. `sync --env uat` publishes into
 * uat only: skopeo pulls the tags from uat's endpoint with the upstream's digests (a multi-platform
 * index byte for byte), while test and prod answer 404 and their app repositories and tag objects
 * do not have them; a second sync changes nothing; `sync --env prod` (promote_only) is refused.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { seed, startDockerRegistry, type RunningRegistry } from "../helpers/docker-registry.js";
import { buildOciLayout } from "../helpers/image-builder.js";
import { skopeoInspectDigest, skopeoRawManifest } from "../helpers/skopeo.js";

const ISV = "mirror";
const ENVS = ["test", "uat", "prod"] as const;

interface SyncJson {
  ok: boolean;
  repositories: {
    name?: string;
    published: { tag: string; as: string; digest: string }[];
    unchanged: { tag: string; as: string; digest: string }[];
  }[];
}

describe("raas sync --env into one environment", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let upstream: RunningRegistry;
  const hosts: Partial<Record<(typeof ENVS)[number], string>> = {};
  const home = () => join(work, "home", "raas");
  const raas = (...args: string[]) => runCli(args, { cwd: work, env });
  const appFiles = (e: string) =>
    execFileSync(
      "git",
      ["--git-dir", join(home(), `${ISV}.${e}`, "app.git"), "ls-tree", "-r", "--name-only", "HEAD"],
      {
        encoding: "utf8",
      },
    );

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-sync-env-"));
    env = cliEnv(join(work, "home"));
    for (const e of ENVS) hosts[e] = `127.0.0.1:${await reservePort(home(), `${ISV}.${e}`)}`;
    await writeFile(
      join(work, "raas.cfg"),
      [`[${ISV}]`, `environments = ${ENVS.join(" ")}`, "promote_only = prod", ""].join("\n"),
    );
    const setup = await raas("setup", ISV);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    upstream = await startDockerRegistry(join(work, "upstream"));
    const multi = await buildOciLayout(join(work, "multi.tar"), {
      name: "tools/cli",
      tag: "2.0",
      layers: 2,
      gzip: true,
      layerSeeds: ["cli-a", "cli-b"],
      platforms: [
        { architecture: "amd64", os: "linux" },
        { architecture: "arm64", os: "linux", variant: "v8" },
      ],
    });
    await seed(multi.path, upstream.host, "tools/cli:2.0");
    const single = await buildOciLayout(join(work, "single.tar"), {
      name: "tools/cli",
      tag: "1.0",
      layers: 1,
      gzip: true,
    });
    await seed(single.path, upstream.host, "tools/cli:1.0");
    await writeFile(
      join(work, "raas-sync.yaml"),
      [
        "version: 1",
        "upstreams:",
        `  - registry: ${upstream.host}`,
        "    tlsVerify: false",
        "    repositories:",
        "      - source: tools/cli",
        "",
      ].join("\n"),
    );
  }, 300_000);

  afterAll(async () => {
    for (const e of ENVS) await stopBackgroundServer(home(), `${ISV}.${e}`);
    await upstream?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("publishes into uat only, with the upstream's digests", async () => {
    const run = await raas("sync", ISV, "--env", "uat", "--json");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as SyncJson;
    expect(result.ok).toBe(true);
    expect(result.repositories[0]?.name).toBe("tools/cli");
    expect(result.repositories[0]?.published.map((t) => t.as).sort()).toEqual(["1.0", "2.0"]);

    // uat serves them: the index byte for byte, the single image by tag and by digest.
    const index = await skopeoRawManifest(`${upstream.host}/tools/cli:2.0`);
    expect((await skopeoRawManifest(`${hosts.uat ?? ""}/tools/cli:2.0`)).equals(index)).toBe(true);
    const digest = await skopeoInspectDigest(`${upstream.host}/tools/cli:1.0`);
    expect(await skopeoInspectDigest(`${hosts.uat ?? ""}/tools/cli:1.0`)).toBe(digest);
    expect(await skopeoInspectDigest(`${hosts.uat ?? ""}/tools/cli@${digest}`)).toBe(digest);
    expect(appFiles("uat")).toContain("data/mirror-tools-cli.json");
  }, 300_000);

  it("test and prod did not get them: no metadata, no tag objects, 404 from their endpoints", async () => {
    for (const e of ["test", "prod"] as const) {
      expect(appFiles(e)).not.toContain("data/mirror-tools-cli.json");
      for (const tag of ["1.0", "2.0"]) {
        const res = await fetch(`http://${hosts[e] ?? ""}/v2/tools/cli/manifests/${tag}`, { method: "HEAD" });
        expect(res.status, `${e} ${tag}`).toBe(404);
      }
    }
    // On the shared store the tags' own objects are uat's, under _env/uat/ only.
    const storage = join(home(), ISV, "storage");
    const tagObjects = (await readdir(storage, { recursive: true }))
      .map((p) => p.split("\\").join("/"))
      .filter((p) => /manifests\/(2|list)\/[0-9]\.0$/.test(p) || p.endsWith("tags/list"));
    expect(tagObjects.length).toBeGreaterThan(0);
    for (const key of tagObjects) expect(key.startsWith("_env/uat/"), key).toBe(true);
  });

  it("a second sync changes nothing, and prod (promote_only) refuses a sync", async () => {
    const again = await raas("sync", ISV, "--env", "uat", "--json");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    const result = JSON.parse(again.stdout) as SyncJson;
    expect(result.repositories[0]?.published).toEqual([]);
    expect(result.repositories[0]?.unchanged.map((t) => t.as).sort()).toEqual(["1.0", "2.0"]);

    const refused = await raas("sync", ISV, "--env", "prod");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${ISV} prod receives images only by promotion; nothing was pushed`);
    expect(appFiles("prod")).not.toContain("data/mirror-tools-cli.json");
  }, 300_000);
});
