/**
 * A raas registry with `[auth] mode = local` as the upstream of another: the upstream ISV is
 * set up through the real CLI in its own home, holds `private/app` that only the group
 * `mirrors` may pull (a registry publication group in access.yaml, committed to its app
 * repository like any reviewed change), and the user `mirror`. The downstream ISV mirrors it
 * with `push docker://…` and `sync`, with credentials from the environment, from a docker
 * credential helper (a real program on PATH), and from an identity token (a refresh token the
 * upstream issued to a `docker login`-style client) that the helper hands out.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import {
  type HelperAnswers,
  writeCredentialHelper,
  writeDockerConfig,
} from "../helpers/docker-credentials.js";
import { gitOut } from "../helpers/git.js";
import { buildOciLayout } from "../helpers/image-builder.js";

const run = promisify(execFile);
const UP = "vendor";
const DOWN = "demo";
const PASSWORD = "mirror-long-password-7";

interface PushJson {
  images: { name: string; tags: string[]; digest: string }[];
}
interface SyncJson {
  ok: boolean;
  repositories: {
    name?: string;
    published: { tag: string; as: string; digest: string }[];
    unchanged: { tag: string; as: string; digest: string }[];
    failed: { tag: string; reason: string }[];
  }[];
}

async function skopeo(...args: string[]): Promise<{ code: number; out: string }> {
  return run("skopeo", args, { timeout: 60_000 }).then(
    (r) => ({ code: 0, out: r.stdout }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === "number" ? e.code : 1,
      out: `${e.stdout ?? ""}${e.stderr ?? ""}`,
    }),
  );
}

const inspect = (ref: string, creds?: string) =>
  skopeo(
    ...["inspect", "--tls-verify=false", "--retry-times", "0", "--format", "{{.Digest}}"],
    ...(creds === undefined ? ["--no-creds"] : ["--creds", creds]),
    `docker://${ref}`,
  );

describe("a raas registry with auth as the upstream", () => {
  let work: string;
  let upEnv: NodeJS.ProcessEnv;
  let downHome: string;
  let bin: string;
  let upstream: string;
  let downstream: string;
  const digests: Record<string, string> = {};
  const up = (...args: string[]) => runCli(args, { cwd: work, env: upEnv });
  const down = (args: string[], extra: Record<string, string> = {}) =>
    runCli(args, {
      cwd: work,
      env: { ...cliEnv(downHome, { PATH: `${bin}:${process.env.PATH ?? ""}` }), ...extra },
    });
  const ok = async <T>(args: string[], extra: Record<string, string> = {}): Promise<T> => {
    const result = await down([...args, "--json"], extra);
    if (result.code !== 0) {
      throw new Error(`raas ${args.join(" ")} failed (${result.code}):\n${result.stderr}`);
    }
    return JSON.parse(result.stdout) as T;
  };

  const helper = (name: string, answers: HelperAnswers) => writeCredentialHelper(bin, name, answers);

  const dockerConfig = (doc: unknown) => writeDockerConfig(downHome, doc);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-raas-upstream-"));
    bin = join(work, "bin");
    await mkdir(bin);
    const upHome = join(work, "up-home");
    upEnv = cliEnv(upHome, { RAAS_AUTH: "local" });
    upstream = `127.0.0.1:${await reservePort(join(upHome, "raas"), UP)}`;
    downHome = join(work, "down-home");
    downstream = `127.0.0.1:${await reservePort(join(downHome, "raas"), DOWN)}`;

    expect((await up("setup", UP)).code).toBe(0);
    for (const [tag, platforms] of [
      ["1.0", 2],
      ["2.0", 1],
    ] as const) {
      const archive = join(work, `app-${tag}.tar`);
      await buildOciLayout(archive, {
        name: "private/app",
        tag,
        layers: 2,
        gzip: true,
        layerSize: 32 * 1024,
        layerSeeds: [`app${tag}-a`, `app${tag}-b`],
        ...(platforms > 1
          ? {
              platforms: [
                { architecture: "amd64", os: "linux" },
                { architecture: "arm64", os: "linux", variant: "v8" },
              ],
            }
          : {}),
      });
      const pushed = await up("push", UP, archive, "--json");
      expect(pushed.code, pushed.stderr).toBe(0);
      digests[tag] = (JSON.parse(pushed.stdout) as PushJson).images[0]?.digest ?? "";
    }
    await writeFile(join(work, "pw"), `${PASSWORD}\n`);
    for (const args of [
      ["user", "add", UP, "mirror", "--privileges", "puller", "--password-file", "pw"],
      ["group", "add", UP, "mirrors", "--member", "mirror"],
    ]) {
      const result = await up(...args);
      expect(result.code, result.stderr).toBe(0);
    }
    // Registry-wide publication groups have no command: they are a reviewed change to access.yaml.
    const clone = join(work, "vendor-app");
    gitOut(work, ["clone", "--quiet", join(upHome, "raas", UP, "app.git"), clone]);
    const policy = parseDocument(await readFile(join(clone, "access.yaml"), "utf8"));
    policy.setIn(["registry", "publicationGroups"], ["mirrors"]);
    await writeFile(join(clone, "access.yaml"), policy.toString());
    gitOut(clone, ["commit", "--quiet", "-am", "access: mirrors may pull"]);
    gitOut(clone, ["push", "--quiet", "origin", "HEAD"]);

    // The upstream serves private/app to mirror once the change is deployed, to nobody else.
    let seen = { code: 1, out: "" };
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(250)) {
      seen = await inspect(`${upstream}/private/app:1.0`, `mirror:${PASSWORD}`);
      if (seen.code === 0) break;
    }
    expect(seen.code, seen.out).toBe(0);
    expect(seen.out.trim()).toBe(digests["1.0"]);
    expect((await inspect(`${upstream}/private/app:1.0`)).code).not.toBe(0);

    const setup = await down(["setup", DOWN]);
    expect(setup.code, setup.stderr).toBe(0);
  }, 300_000);

  afterAll(async () => {
    await stopBackgroundServer(join(work, "up-home", "raas"), UP);
    await stopBackgroundServer(join(downHome, "raas"), DOWN);
    await rm(work, { recursive: true, force: true });
  });

  it("push without credentials fails naming the upstream and its 401, publishing nothing", async () => {
    const source = `docker://${upstream}/private/app:1.0`;
    const anonymous = await down(["push", DOWN, source, "--src-tls-verify", "false"]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain(`docker://${upstream}/private/app`);
    expect(anonymous.stderr).toMatch(/HTTP 401/);
    expect(anonymous.stderr).toMatch(/log in/i);

    const wrong = await down(["push", DOWN, source, "--src-tls-verify", "false"], {
      RAAS_SRC_USERNAME: "mirror",
      RAAS_SRC_PASSWORD: "not-the-password-9",
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`docker://${upstream}/private/app`);
    expect(wrong.stderr).toMatch(new RegExp(`token service ${upstream} answered HTTP 401`));
    expect(wrong.stderr + wrong.stdout).not.toContain("not-the-password-9");
    expect((await inspect(`${downstream}/private/app:1.0`)).code).not.toBe(0);
  }, 180_000);

  it("push with the environment's credentials keeps every digest", async () => {
    const pushed = await ok<PushJson>(
      ["push", DOWN, `docker://${upstream}/private/app:1.0`, "--src-tls-verify", "false"],
      {
        RAAS_SRC_USERNAME: "mirror",
        RAAS_SRC_PASSWORD: PASSWORD,
      },
    );
    expect(pushed.images[0]).toMatchObject({ name: "private/app", tags: ["1.0"], digest: digests["1.0"] });
    const served = await inspect(`${downstream}/private/app:1.0`);
    expect(served).toEqual({ code: 0, out: `${digests["1.0"]}\n` });
    const raw = await skopeo(
      "inspect",
      "--tls-verify=false",
      "--raw",
      "--no-creds",
      `docker://${downstream}/private/app:1.0`,
    );
    const children = (JSON.parse(raw.out) as { manifests: { digest: string }[] }).manifests;
    expect(children).toHaveLength(2);
    for (const child of children) {
      expect((await inspect(`${downstream}/private/app@${child.digest}`)).code).toBe(0);
    }
  }, 180_000);

  it("push with a docker credential helper, which is named when it is missing", async () => {
    await dockerConfig({ credHelpers: { [upstream]: "absent" } });
    const missing = await down([
      "push",
      DOWN,
      `docker://${upstream}/private/app:2.0`,
      "--src-tls-verify",
      "false",
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      new RegExp(`docker-credential-absent .* for ${upstream}: .*not installed`),
    );

    await helper("vendor", { [upstream]: { Username: "mirror", Secret: PASSWORD } });
    await dockerConfig({ credHelpers: { [upstream]: "vendor" } });
    const pushed = await ok<PushJson>([
      "push",
      DOWN,
      `docker://${upstream}/private/app:2.0`,
      "--src-tls-verify",
      "false",
    ]);
    expect(pushed.images[0]).toMatchObject({ name: "private/app", tags: ["2.0"], digest: digests["2.0"] });
    expect(await readFile(join(bin, "vendor.log"), "utf8")).toBe(`get ${upstream}\n`);
    expect((await inspect(`${downstream}/private/app:2.0`)).out.trim()).toBe(digests["2.0"]);
  }, 180_000);

  it("sync with an identity token from the credsStore helper, idle on the second run", async () => {
    // What `docker login` does: trade the password for a refresh token issued to client "docker".
    const challenge = (await fetch(`http://${upstream}/v2/`)).headers.get("www-authenticate") ?? "";
    const service = /service="([^"]*)"/.exec(challenge)?.[1] ?? "";
    const login = await fetch(
      `http://${upstream}/token?service=${encodeURIComponent(service)}&offline_token=true&client_id=docker`,
      { headers: { Authorization: `Basic ${Buffer.from(`mirror:${PASSWORD}`).toString("base64")}` } },
    );
    const refresh = ((await login.json()) as { refresh_token?: string }).refresh_token ?? "";
    expect(refresh).not.toBe("");
    await helper("store", { [upstream]: { Username: "<token>", Secret: refresh } });
    await dockerConfig({ credsStore: "store" });
    await writeFile(
      join(work, "raas-sync.yaml"),
      [
        "version: 1",
        "upstreams:",
        `  - registry: ${upstream}`,
        "    tlsVerify: false",
        "    repositories:",
        "      - source: private/app",
        "        name: mirrored/app",
        "",
      ].join("\n"),
    );
    const first = await ok<SyncJson>(["sync", DOWN]);
    expect(first.ok).toBe(true);
    const repo = first.repositories[0];
    expect(repo?.name).toBe("mirrored/app");
    expect(repo?.published.map((t) => `${t.as}=${t.digest}`).sort()).toEqual([
      `1.0=${digests["1.0"]}`,
      `2.0=${digests["2.0"]}`,
    ]);
    for (const tag of ["1.0", "2.0"]) {
      expect((await inspect(`${downstream}/mirrored/app:${tag}`)).out.trim()).toBe(digests[tag]);
    }
    // The helper is asked once per repository, not once more for every image published.
    expect(await readFile(join(bin, "store.log"), "utf8")).toBe(`get ${upstream}\n`);
    const second = await down(["sync", DOWN, "--json"]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout + second.stderr).not.toContain(refresh);
    const idle = JSON.parse(second.stdout) as SyncJson;
    expect(idle.repositories[0]?.published).toEqual([]);
    expect(idle.repositories[0]?.unchanged.map((t) => t.as).sort()).toEqual(["1.0", "2.0"]);

    // A revoked login (password changed upstream) makes the identity token useless: a clear failure.
    await writeFile(join(work, "pw2"), "another-long-password-8\n");
    expect((await up("user", "passwd", UP, "mirror", "--password-file", "pw2")).code).toBe(0);
    let failed: SyncJson | undefined;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(500)) {
      const result = await down(["sync", DOWN, "--json"]);
      failed = JSON.parse(result.stdout) as SyncJson;
      if (!failed.ok) break;
    }
    expect(failed?.ok).toBe(false);
    expect(failed?.repositories[0]?.failed[0]?.reason).toMatch(
      new RegExp(
        `token service ${upstream} answered HTTP 401 \\(invalid_grant\\) to the identity token from docker-credential-store`,
      ),
    );
  }, 300_000);
});
