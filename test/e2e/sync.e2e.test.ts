/**
 * Registry sources and sync against real upstreams: two Debian `docker-registry` processes
 * (distribution 2.8) seeded with skopeo, one plain, one behind a token-auth proxy, each behind
 * a loopback proxy that counts requests and blob bytes. raas runs on the embedded default
 * (local storage, local platform); skopeo reads back what raas serves.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import {
  seed,
  startDockerRegistry,
  startProxy,
  type CountingProxy,
  type RunningRegistry,
} from "../helpers/docker-registry.js";
import { buildOciLayout } from "../helpers/image-builder.js";
import { skopeoInspectDigest, skopeoRawManifest } from "../helpers/skopeo.js";

const ISV = "demo";
const ROOT = resolve(import.meta.dirname, "..", "..");
const CONTEXTUAL = "examplecorp-docker_io-thomasmckay_hammer";

interface SyncJson {
  ok: boolean;
  repositories: {
    upstream: string;
    source: string;
    name?: string;
    published: { tag: string; as: string; digest: string }[];
    unchanged: { tag: string; as: string; digest: string }[];
    skipped: { tag: string; reason: string }[];
    failed: { tag: string; reason: string }[];
  }[];
}

describe("registry sources and sync", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let host: string;
  let plain: RunningRegistry;
  let secured: RunningRegistry;
  let plainProxy: CountingProxy;
  let authProxy: CountingProxy;
  const raas = (...args: string[]) => runCli(args, { cwd: work, env });
  const json = async <T>(...args: string[]): Promise<T> => {
    const run = await raas(...args, "--json");
    if (run.code !== 0) {
      throw new Error(`raas ${args.join(" ")} failed (${run.code}):\n${run.stdout}\n${run.stderr}`);
    }
    return JSON.parse(run.stdout) as T;
  };
  const archive = async (name: string, tag: string, seedText: string, platforms = 1) =>
    buildOciLayout(join(work, `${name.replaceAll("/", "_")}-${tag}.tar`), {
      name,
      tag,
      layers: 2,
      gzip: true,
      layerSize: 64 * 1024,
      layerSeeds: [`${seedText}-a`, `${seedText}-b`],
      ...(platforms > 1
        ? {
            platforms: [
              { architecture: "amd64", os: "linux" },
              { architecture: "arm64", os: "linux", variant: "v8" },
            ],
          }
        : {}),
    });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-sync-"));
    env = cliEnv(join(work, "home"), { UPSTREAM_B_USER: "mirror", UPSTREAM_B_PASSWORD: "s3cret-pass" });
    await reservePort(join(work, "home", "raas"), ISV);
    const setup = await raas("setup", ISV);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const { readFile } = await import("node:fs/promises");
    const platform = JSON.parse(await readFile(join(work, "home", "raas", ISV, "platform.json"), "utf8")) as {
      port: number;
    };
    host = `127.0.0.1:${platform.port}`;

    plain = await startDockerRegistry(join(work, "upstream-a"));
    secured = await startDockerRegistry(join(work, "upstream-b"));
    plainProxy = await startProxy(plain.host);
    authProxy = await startProxy(secured.host, { username: "mirror", password: "s3cret-pass" });

    const multi = await archive("hammer", "13-test", "hammer13", 2);
    await seed(multi.path, plain.host, `${CONTEXTUAL}:13-test`);
    await seed((await archive("hammer", "1.0", "hammer10")).path, plain.host, `${CONTEXTUAL}:1.0`);
    await seed((await archive("hammer", "1.1-rc1", "hammerrc")).path, plain.host, `${CONTEXTUAL}:1.1-rc1`);
    await seed((await archive("hammer", "2.0", "hammer20")).path, plain.host, `${CONTEXTUAL}:2.0`);
    for (const tag of ["1.0", "2.0", "dev"]) {
      await seed((await archive("tools/app", tag, `app${tag}`)).path, secured.host, `tools/app:${tag}`);
    }
    await writeFile(
      join(work, "raas-sync.yaml"),
      [
        "version: 1",
        "upstreams:",
        `  - registry: ${plainProxy.host}`,
        "    tlsVerify: false",
        "    repositories:",
        `      - source: ${CONTEXTUAL}`,
        '        stripPrefix: "examplecorp-*-"',
        '        slash: "_"',
        '        include: ["1*", "13-test"]',
        '        exclude: ["*-rc*"]',
        "        rename:",
        "          13-test: latest-test",
        `  - registry: ${authProxy.host}`,
        "    tlsVerify: false",
        "    credentials: { usernameEnv: UPSTREAM_B_USER, passwordEnv: UPSTREAM_B_PASSWORD }",
        "    repositories:",
        "      - source: tools/app",
        "        exclude: [dev]",
        "",
      ].join("\n"),
    );
  }, 300_000);

  afterAll(async () => {
    await stopBackgroundServer(join(work, "home", "raas"), ISV);
    await plainProxy?.stop();
    await authProxy?.stop();
    await plain?.stop();
    await secured?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("push docker://… of a multi-platform index keeps every digest", async () => {
    const source = `${plain.host}/${CONTEXTUAL}:13-test`;
    const upstreamIndex = await skopeoRawManifest(source);
    const pushed = await json<{ images: { name: string; tags: string[]; digest: string }[] }>(
      "push",
      ISV,
      `docker://${source}`,
      "--src-tls-verify",
      "false",
      "--strip-prefix",
      "examplecorp-*-",
      "--slash",
      "_",
      "--rename-tag",
      "13-test=pushed-test",
    );
    expect(pushed.images[0]).toMatchObject({ name: "thomasmckay/hammer", tags: ["pushed-test"] });
    const served = await skopeoRawManifest(`${host}/thomasmckay/hammer:pushed-test`);
    expect(served.equals(upstreamIndex)).toBe(true);
    const children = (JSON.parse(upstreamIndex.toString("utf8")) as { manifests: { digest: string }[] })
      .manifests;
    expect(children).toHaveLength(2);
    for (const child of children) {
      const upstreamChild = await skopeoRawManifest(`${plain.host}/${CONTEXTUAL}@${child.digest}`);
      const raasChild = await skopeoRawManifest(`${host}/thomasmckay/hammer@${child.digest}`);
      expect(raasChild.equals(upstreamChild)).toBe(true);
    }
  });

  it("refuses an unknown digest, and a token-auth source without credentials", async () => {
    const wrong = `sha256:${"0".repeat(64)}`;
    const bad = await raas(
      "push",
      ISV,
      `docker://${plain.host}/${CONTEXTUAL}@${wrong}`,
      "--src-tls-verify",
      "false",
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/HTTP 404/);
    const denied = await raas(
      "push",
      ISV,
      `docker://${authProxy.host}/tools/app:1.0`,
      "--src-tls-verify",
      "false",
    );
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/denied|unauthorized|token service/i);
    expect(denied.stderr + denied.stdout).not.toContain("s3cret-pass");
  });

  it("syncs two upstreams under original names with include, exclude and rename applied", async () => {
    plainProxy.reset();
    authProxy.reset();
    const result = await json<SyncJson>("sync", ISV);
    expect(result.ok).toBe(true);
    const [hammer, app] = result.repositories;
    expect(hammer?.name).toBe("thomasmckay/hammer");
    expect(hammer?.published.map((t) => t.as).sort()).toEqual(["1.0", "latest-test"]);
    expect(hammer?.skipped.map((t) => t.tag).sort()).toEqual(["1.1-rc1", "2.0"]);
    expect(app?.name).toBe("tools/app");
    expect(app?.published.map((t) => t.as).sort()).toEqual(["1.0", "2.0"]);
    expect(app?.skipped).toEqual([{ tag: "dev", reason: "excluded by dev" }]);
    expect(authProxy.stats.tokenRequests).toBeGreaterThan(0);

    for (const [upstream, raasRef] of [
      [`${plain.host}/${CONTEXTUAL}:13-test`, "thomasmckay/hammer:latest-test"],
      [`${plain.host}/${CONTEXTUAL}:1.0`, "thomasmckay/hammer:1.0"],
      [`${secured.host}/tools/app:2.0`, "tools/app:2.0"],
    ] as const) {
      expect(await skopeoInspectDigest(`${host}/${raasRef}`)).toBe(await skopeoInspectDigest(upstream));
    }
    await expect(skopeoInspectDigest(`${host}/tools/app:dev`)).rejects.toThrow();
    await expect(skopeoInspectDigest(`${host}/thomasmckay/hammer:1.1-rc1`)).rejects.toThrow();
  });

  it("a second sync with nothing changed costs one HEAD per tag and no blob bytes", async () => {
    plainProxy.reset();
    authProxy.reset();
    const result = await json<SyncJson>("sync", ISV);
    expect(result.repositories.flatMap((r) => r.published)).toEqual([]);
    expect(result.repositories.flatMap((r) => r.unchanged.map((t) => t.as)).sort()).toEqual([
      "1.0",
      "1.0",
      "2.0",
      "latest-test",
    ]);
    for (const proxy of [plainProxy, authProxy]) {
      expect(proxy.stats.blobGets).toBe(0);
      expect(proxy.stats.blobBytes).toBe(0);
      expect(proxy.stats.manifestGets).toBe(0);
    }
    expect(plainProxy.stats.manifestHeads).toBe(2);
    expect(authProxy.stats.manifestHeads).toBe(2);
  });

  it("a dry run publishes nothing; a sync killed midway completes on rerun", async () => {
    if (!existsSync(join(ROOT, "dist", "cli", "main.js"))) throw new Error("run `npm run build` first");
    for (const tag of ["1.2", "1.3", "1.4"]) {
      await seed((await archive("hammer", tag, `hammer${tag}`)).path, plain.host, `${CONTEXTUAL}:${tag}`);
    }
    const dry = await json<SyncJson & { dryRun: boolean }>("sync", ISV, "--dry-run");
    expect(dry.dryRun).toBe(true);
    expect(dry.repositories[0]?.published.map((t) => t.as).sort()).toEqual(["1.2", "1.3", "1.4"]);
    await expect(skopeoInspectDigest(`${host}/thomasmckay/hammer:1.2`)).rejects.toThrow();

    plainProxy.reset();
    const child = spawn(process.execPath, [join(ROOT, "bin", "raas.js"), "sync", ISV, "--json"], {
      cwd: work,
      env,
      stdio: "ignore",
    });
    const exited = new Promise<NodeJS.Signals | null>((done) =>
      child.on("exit", (_code, signal) => done(signal)),
    );
    // Kill it when it starts on the second new image: the first may be committed, the rest not.
    plainProxy.onRequest = (req) => {
      if (req.method === "GET" && /\/blobs\//.test(req.url ?? "") && plainProxy.stats.blobGets >= 4) {
        child.kill("SIGKILL");
      }
    };
    const signal = await exited;
    plainProxy.onRequest = undefined;
    expect(signal).toBe("SIGKILL");

    const rerun = await json<SyncJson>("sync", ISV);
    expect(rerun.ok).toBe(true);
    const hammer = rerun.repositories[0];
    const done = [...(hammer?.published ?? []), ...(hammer?.unchanged ?? [])].map((t) => t.as).sort();
    expect(done).toEqual(["1.0", "1.2", "1.3", "1.4", "latest-test"]);
    expect(hammer?.published.length).toBeGreaterThan(0);
    for (const tag of ["1.2", "1.3", "1.4"]) {
      expect(await skopeoInspectDigest(`${host}/thomasmckay/hammer:${tag}`)).toBe(
        await skopeoInspectDigest(`${plain.host}/${CONTEXTUAL}:${tag}`),
      );
    }
    const third = await json<SyncJson>("sync", ISV);
    expect(third.repositories.flatMap((r) => r.published)).toEqual([]);
  });
});
