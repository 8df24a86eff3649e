/**
 * `status` and `setup` tell the truth on the embedded default (local storage, local git,
 * real registry server processes): an ISV never set up, another ISV's registry on the port, a
 * registry served in the foreground by `raas serve`, leftovers of interrupted runs in local
 * storage (probe objects, partial writes), and a storage listing that fails. The tests run in
 * order on shared ISVs.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { registryTrust } from "../../src/app/registry-http.js";
import { buildContext } from "../../src/commands/context.js";
import { status } from "../../src/commands/status.js";
import { loadConfig, resolveIsv } from "../../src/config/index.js";
import type { BlobStore } from "../../src/storage/types.js";
import { RecordingReporter } from "../../src/ui/reporter.js";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { buildOciLayout } from "../helpers/image-builder.js";

interface Report {
  ok: boolean;
  checks: { name: string; status: string; detail: string; fix?: string }[];
}

describe("status and setup tell the truth (embedded default)", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  const home = () => join(work, "home", "raas");
  const storage = (isv: string) => join(home(), isv, "storage");
  const raas = (...args: string[]) => runCli(args, { cwd: work, env });
  const statusJson = async (isv: string, ...args: string[]) => {
    const run = await raas("status", isv, "--json", ...args);
    return { code: run.code, report: JSON.parse(run.stdout) as Report, stderr: run.stderr };
  };
  const check = (report: Report, name: string) => report.checks.filter((c) => c.name === name);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-truth-"));
    env = cliEnv(join(work, "home"));
    await reservePort(home(), "alpha");
    await buildOciLayout(join(work, "app.tar"), { name: "alpha/app", tag: "1.0", layers: 2 });
    const setup = await raas("setup", "alpha");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const push = await raas("push", "alpha", "app.tar");
    expect(push.code, push.stdout + push.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await stopBackgroundServer(home(), "alpha");
    await rm(work, { recursive: true, force: true });
  });

  it("says an ISV that was never set up is not set up, exit 1, as push does", async () => {
    for (const command of ["status", "push"]) {
      const args = command === "push" ? ["push", "typo", "app.tar"] : ["status", "typo"];
      const run = await raas(...args);
      expect(run.code, command).toBe(1);
      expect(run.stderr, command).toMatch(/error: typo is not set up: there is no app repository at /);
      expect(run.stderr, command).toContain("hint: Run `raas setup typo` first.");
      expect(run.stdout, command).not.toContain("✔");
    }
    const json = await raas("status", "typo", "--json");
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: "NOT_SET_UP" } });
  });

  it("fails status when the registry answering on the ISV's address is another ISV's", async () => {
    // beta is given alpha's port, as a hand-edited platform.json or raas.cfg would.
    const alpha = JSON.parse(await readFile(join(home(), "alpha", "platform.json"), "utf8")) as {
      port: number;
    };
    await mkdir(join(home(), "beta"), { recursive: true });
    await writeFile(join(home(), "beta", "platform.json"), `${JSON.stringify({ port: alpha.port })}\n`);
    const setup = await raas("setup", "beta", "--no-start");
    expect(setup.code, setup.stderr).toBe(0);
    const { code, report } = await statusJson("beta");
    expect(code).toBe(1);
    const app = check(report, "registry app")[0];
    expect(app?.status).toBe("fail");
    expect(app?.detail).toBe(`http://127.0.0.1:${alpha.port} is the registry of alpha, not of beta`);
    expect(app?.fix).toMatch(/give beta its own port/);
    // alpha's own status names itself.
    const own = await statusJson("alpha");
    expect(own.code).toBe(0);
    expect(check(own.report, "registry app")[0]?.detail).toMatch(/as alpha's registry$/);
  });

  it("repairs a probe object an interrupted setup left in local storage", async () => {
    await mkdir(join(storage("alpha"), ".raas-probe"), { recursive: true });
    await writeFile(join(storage("alpha"), ".raas-probe", "interrupted"), "left behind");
    const before = await statusJson("alpha");
    expect(check(before.report, "storage probes")[0]?.detail).toMatch(
      /^1 probe object\(s\) left by an interrupted setup \(\.raas-probe\/interrupted\)$/,
    );
    const setup = await raas("setup", "alpha", "--json");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const storageLine = (JSON.parse(setup.stdout) as Report).checks.find((c) => c.name === "storage");
    expect(storageLine?.detail).toMatch(/removed 1 leftover probe object\(s\)/);
    expect(await readdir(join(storage("alpha"), ".raas-probe"))).toEqual([]);
    expect(check((await statusJson("alpha")).report, "storage probes")).toEqual([]);
  });

  it("reports partial writes a killed push left; the next push removes those past the grace period", async () => {
    const tmp = join(storage("alpha"), ".tmp");
    await mkdir(tmp, { recursive: true });
    const old = join(tmp, "0b6cbd1e-killed-push");
    const fresh = join(tmp, "5f1c0de2-push-in-flight");
    await writeFile(old, Buffer.alloc(1000, 1));
    await writeFile(fresh, Buffer.alloc(10, 1));
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(old, twoHoursAgo, twoHoursAgo);

    const { code, report } = await statusJson("alpha");
    expect(code).toBe(1);
    const lines = check(report, "partial writes");
    expect(lines.map((l) => l.status)).toEqual(["fail", "warn"]);
    expect(lines[0]?.detail).toBe(`1 partial write(s) (1000 bytes) left by an interrupted push, e.g. ${old}`);
    expect(lines[0]?.fix).toBe("`raas setup alpha` or the next push removes those older than 1 hour(s)");
    expect(lines[1]?.detail).toMatch(
      /^1 write\(s\) in progress or left by a push stopped in the last 1 hour/,
    );

    const push = await raas("push", "alpha", "app.tar");
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout).toContain("Removed 1 partial write(s) left by an interrupted push");
    expect((await readdir(tmp)).sort()).toEqual(["5f1c0de2-push-in-flight"]);
    const after = await statusJson("alpha");
    expect(after.code).toBe(0);
    expect(check(after.report, "partial writes").map((l) => l.status)).toEqual(["warn"]);
    await rm(fresh);
  });

  it("does not tick a repository whose storage it could not list", async () => {
    const config = await loadConfig({ cwd: work, env });
    const settings = await resolveIsv(config, "alpha", { allocate: false });
    const reporter = new RecordingReporter();
    const ctx = await buildContext({
      config,
      settings,
      reporter,
      cwd: work,
      env,
      signal: new AbortController().signal,
    });
    const real = await ctx.store();
    // Everything works except listing, as with credentials that may read but not list.
    const failing: BlobStore = Object.assign(Object.create(real) as BlobStore, {
      list: (): AsyncIterable<never> => ({
        [Symbol.asyncIterator]: () => ({
          next: () => Promise.reject(new Error("AccessDenied: s3:ListBucket is not allowed")),
        }),
      }),
    });
    const app = await ctx.app();
    try {
      const report = await status({ isv: "alpha", verify: false }, ctx, {
        store: failing,
        app,
        platform: ctx.platform,
        registryHost: "127.0.0.1",
        registry: { ...registryTrust(undefined), login: undefined },
      });
      expect(report.ok).toBe(false);
      const storageFail = report.checks.find((c) => c.name === "storage" && c.status === "fail");
      expect(storageFail?.detail).toMatch(/^cannot list local directory .*: AccessDenied/);
      const repository = report.checks.filter((c) => c.name === "alpha/app");
      expect(repository.map((c) => c.status)).toEqual(["warn"]);
      expect(repository[0]?.detail).toBe("1 tag(s); storage not checked (see the storage line)");
    } finally {
      await app.close();
      await ctx.dispose();
    }
  });

  it("knows the registry is served in the foreground by raas serve, and stopped after it", async () => {
    await reservePort(home(), "gamma");
    const setup = await raas("setup", "gamma", "--no-start");
    expect(setup.code, setup.stderr).toBe(0);
    let stop: (signal: NodeJS.Signals) => void = () => undefined;
    const stopped = new Promise<NodeJS.Signals>((resolve) => (stop = resolve));
    const stdout = new PassThrough();
    let out = "";
    stdout.on("data", (c: Buffer) => (out += c.toString()));
    const serving = main(["serve", "gamma"], {
      stdout,
      stderr: new PassThrough(),
      env,
      cwd: work,
      untilSignal: () => stopped,
    });
    const deadline = Date.now() + 15_000;
    while (!out.includes("Serving") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

    const { code, report } = await statusJson("gamma");
    expect(code, JSON.stringify(report.checks)).toBe(0);
    expect(check(report, "platform")[0]).toMatchObject({
      status: "ok",
      detail: expect.stringMatching(/^served in the foreground by `raas serve gamma` \(pid \d+\) at http:/),
    });

    stop("SIGINT");
    expect(await serving).toBe(0);
    const after = await statusJson("gamma");
    expect(after.code).toBe(1);
    expect(check(after.report, "platform")[0]?.detail).toMatch(/^the local registry server is stopped/);
  });
});
