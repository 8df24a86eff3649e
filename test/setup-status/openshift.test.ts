/**
 * `raas setup` and `raas status` on the openshift platform, through the CLI, against the
 * fake OpenShift API (test/helpers/fake-openshift.ts, a labelled stand-in: no cluster runs
 * here) and a real bare git repository as the app remote. About 15 s: each setup pushes the
 * app repository and waits for the (fake) build and rollout.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cliEnv, runCli, type CliRun } from "../helpers/cli.js";
import { buildOciLayout } from "../helpers/image-builder.js";
import { startFakeOpenShift, type FakeOpenShift, type FakeScenario } from "../helpers/fake-openshift.js";

const TOKEN = "sha256~fake-token-0123456789abcdef";
const ISV = "acme";

interface Env {
  work: string;
  fake: FakeOpenShift;
  remote: string;
  raas: (...args: string[]) => Promise<CliRun>;
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function prepare(scenario: FakeScenario = "success", extraCfg: string[] = []): Promise<Env> {
  const work = await mkdtemp(join(tmpdir(), "raas-openshift-"));
  const fake = await startFakeOpenShift({ token: TOKEN, project: ISV, scenario });
  cleanup.push(async () => {
    await fake.close();
    await rm(work, { recursive: true, force: true });
  });
  const remote = join(work, "app.git");
  execFileSync("git", ["init", "--quiet", "--bare", "--initial-branch=main", remote]);
  await writeFile(
    join(work, "raas.cfg"),
    [
      "[raas]",
      "platform = openshift",
      "[openshift]",
      `server_url = ${fake.url}`,
      ...extraCfg,
      `[${ISV}]`,
      `app_git_url = ${remote}`,
      `app_url = ${fake.url}`,
      "",
    ].join("\n"),
  );
  const env = cliEnv(join(work, "home"), { RAAS_OPENSHIFT_TOKEN: TOKEN });
  return { work, fake, remote, raas: (...args) => runCli(args, { cwd: work, env }) };
}

const head = (remote: string) =>
  execFileSync("git", ["--git-dir", remote, "rev-parse", "main"], { encoding: "utf8" }).trim();

describe("setup on OpenShift (fake API)", () => {
  it("applies the resources, builds, rolls out and answers; a second run changes nothing", async () => {
    const { fake, remote, raas } = await prepare();
    const first = await raas("setup", ISV, "--json", "--timeout", "20");
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ ok: true, changed: true });
    const kinds = [...fake.objects.values()].map((o) => o.kind).sort();
    expect(kinds).toEqual([
      "Build",
      "BuildConfig",
      "Deployment",
      "HorizontalPodAutoscaler",
      "ImageStream",
      "Route",
      "Service",
    ]);
    const route = [...fake.objects.values()].find((o) => o.kind === "Route") as unknown as {
      spec: { tls: unknown };
    };
    expect(route.spec.tls).toEqual({ termination: "edge", insecureEdgeTerminationPolicy: "Redirect" });
    const bc = [...fake.objects.values()].find((o) => o.kind === "BuildConfig") as unknown as {
      spec: { source: { git: { uri: string } } };
    };
    expect(bc.spec.source.git.uri).toBe(remote);
    expect(fake.builds).toEqual(["registry-1"]);
    expect(fake.requests.every((r) => r.authorized)).toBe(true);
    const versions = [...fake.objects.entries()].map(([p, o]) => `${p}@${o.metadata.resourceVersion}`);
    const commit = head(remote);

    const second = await raas("setup", ISV, "--json", "--timeout", "20");
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ ok: true, changed: false });
    expect(fake.builds).toEqual(["registry-1"]);
    expect([...fake.objects.entries()].map(([p, o]) => `${p}@${o.metadata.resourceVersion}`)).toEqual(
      versions,
    );
    expect(head(remote)).toBe(commit);

    const status = await raas("status", ISV);
    expect(status.stdout).toMatch(/✔ platform\s+project acme: registry has 2 replica\(s\) available/);
    expect(status.code, status.stdout + status.stderr).toBe(0);
  });

  it("push commits the metadata, then builds and rolls out the app", async () => {
    const { fake, remote, work, raas } = await prepare();
    expect((await raas("setup", ISV, "--timeout", "20")).code).toBe(0);
    expect(fake.builds).toEqual(["registry-1"]);
    const before = head(remote);
    await buildOciLayout(join(work, "web.tar"), { name: "acme/web", tag: "1.0", layers: 1 });
    const push = await raas("push", ISV, join(work, "web.tar"), "--no-wait", "--timeout", "20", "--json");
    expect(push.code, push.stdout + push.stderr).toBe(0);
    expect(head(remote)).not.toBe(before);
    expect(fake.builds).toEqual(["registry-1", "registry-2"]);
    // Pushing the same image again commits nothing, so nothing is rebuilt.
    const again = await raas("push", ISV, join(work, "web.tar"), "--no-wait", "--timeout", "20");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(fake.builds).toEqual(["registry-1", "registry-2"]);
  });

  it("--log debug shows each API request with timing, never the token", async () => {
    const { raas } = await prepare();
    const run = await raas("setup", ISV, "--log", "debug", "--timeout", "20");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const all = run.stdout + run.stderr;
    expect(all).toMatch(
      /OpenShift PATCH \/apis\/apps\/v1\/namespaces\/acme\/deployments\/registry -> 201 \(\d+ ms\)/,
    );
    expect(all).toMatch(
      /OpenShift POST \/apis\/build\.openshift\.io\/v1\/namespaces\/acme\/buildconfigs\/registry\/instantiate -> 201/,
    );
    expect(all).not.toContain(TOKEN);
  });

  const failures: [FakeScenario, RegExp, string][] = [
    ["unauthorized", /rejected the token \(401 Unauthorized\)/, "OPENSHIFT_UNAUTHORIZED"],
    ["missing-project", /the OpenShift project acme does not exist/, "OPENSHIFT_NO_PROJECT"],
    [
      "build-fails",
      /the OpenShift build registry-1 in acme ended Failed: Docker build strategy has failed/,
      "OPENSHIFT_BUILD_FAILED",
    ],
    [
      "rollout-timeout",
      /the rollout of registry in acme did not finish within 2 s: 0 of 2 updated replicas available/,
      "OPENSHIFT_ROLLOUT_TIMEOUT",
    ],
    [
      "malformed-build",
      /answered POST \/apis\/build\.openshift\.io\/v1\/namespaces\/acme\/buildconfigs\/registry\/instantiate with a body that is not the expected object: metadata\.name is missing/,
      "OPENSHIFT_BAD_RESPONSE",
    ],
  ];
  for (const [scenario, message, code] of failures) {
    it(`fails clearly when the API plays ${scenario}`, async () => {
      const { raas } = await prepare(scenario);
      const run = await raas("setup", ISV, "--timeout", "2", "--json");
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toMatch(/hint: /);
      expect(run.stderr + run.stdout).not.toContain(TOKEN);
      expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, error: { code } });
    });
  }

  it("fails clearly without a token", async () => {
    const { work } = await prepare();
    const run = await runCli(["setup", ISV], { cwd: work, env: cliEnv(join(work, "home")) });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/no OpenShift token for http:\/\/127\.0\.0\.1:\d+/);
    expect(run.stderr).toMatch(/RAAS_OPENSHIFT_TOKEN/);
  });
});
