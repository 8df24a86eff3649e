import { existsSync } from "node:fs";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import * as path from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { resolveIsv } from "../config/isv.js";
import { loadConfig } from "../config/load.js";
import type { IsvSettings } from "../config/types.js";
import { UserError } from "../errors.js";
import { RecordingReporter } from "../ui/reporter.js";
import { reservePort } from "../../test/helpers/cli.js";
import { publishFiles } from "../../test/helpers/app-repo.js";
import { fakeRaasPackage, gitOut, tempDir, writeTree } from "../../test/helpers/git.js";
import { ensureAppRepo } from "./app-repo.js";
import { packageRoot } from "../adapters/package-root.js";
import { serverEntry } from "./server-runtime.js";
import {
  ensureLocalDeploy,
  localServerStatus,
  startLocalServer,
  stopLocalServer,
  waitForPing,
} from "./platform-local.js";

async function localSettings(stateName = "state"): Promise<IsvSettings> {
  const cwd = await tempDir();
  // Plain HTTP: these tests are about the process; HTTPS has its own (test/e2e/https.e2e.test.ts).
  const config = await loadConfig({
    cwd,
    env: { HOME: cwd, RAAS_HOME: path.join(cwd, stateName), RAAS_TLS: "off" },
  });
  // An OS-assigned port, so test files running side by side never race for 5000 and up.
  await reservePort(path.join(cwd, stateName), "acme");
  const settings = await resolveIsv(config, "acme");
  onTestFinished(async () => {
    await stopLocalServer(settings);
  });
  return settings;
}

describe("ensureLocalDeploy", () => {
  it("creates the bare remote and an executable deploy hook, once", async () => {
    // A quote in the path proves the hook's shell quoting.
    const settings = await localSettings("it's state");
    expect(await ensureLocalDeploy(settings)).toMatchObject({ changed: true, remote: settings.appRemote });
    const hook = path.join(settings.appRemote, "hooks", "post-receive");
    expect((await stat(hook)).mode & 0o111).toBe(0o111);
    expect((await ensureLocalDeploy(settings)).changed).toBe(false);

    const root = await fakeRaasPackage(packageRoot());
    await ensureAppRepo(settings, { reporter: new RecordingReporter(), packageRoot: root });
    expect(existsSync(path.join(settings.deployDir ?? "", "registry.conf"))).toBe(true);
  });

  it("repairs a lost deploy directory without a push", async () => {
    const settings = await localSettings();
    const root = await fakeRaasPackage(packageRoot());
    await ensureAppRepo(settings, { reporter: new RecordingReporter(), packageRoot: root });
    const deployDir = settings.deployDir ?? "";
    await rm(path.join(deployDir, "registry.conf"));
    await ensureLocalDeploy(settings);
    expect(await readFile(path.join(deployDir, "registry.conf"), "utf8")).toContain("[general]");
  });
});

describe("the local registry server", () => {
  it("starts once, serves what each push deploys, and stops", async () => {
    const settings = await localSettings();
    const root = await fakeRaasPackage(packageRoot());
    await ensureAppRepo(settings, {
      reporter: new RecordingReporter(),
      packageRoot: root,
    });
    const entry = serverEntry(root);
    const platform = settings.platform.kind === "local" ? settings.platform : undefined;
    if (platform === undefined) throw new Error("expected the local platform");

    const started = await startLocalServer(settings, { entry });
    expect(started.started).toBe(true);
    await waitForPing(settings.appUrl, { timeoutMs: 10_000, logFile: platform.logFile });
    const status = await localServerStatus(settings);
    expect(status).toMatchObject({ running: true, pid: started.pid, url: settings.appUrl });
    expect(await readFile(platform.pidFile, "utf8")).toBe(`${started.pid}\n`);

    const again = await startLocalServer(settings, { entry });
    expect(again).toMatchObject({ started: false, pid: started.pid });

    await publishFiles(settings, { "data/acme-app.json": "{}\n" }, "acme push app");
    const listed = (await (await fetch(`${settings.appUrl}/data`)).json()) as string[];
    expect(listed).toContain("acme-app.json");

    expect(await stopLocalServer(settings)).toBe(started.pid);
    expect(await localServerStatus(settings)).toMatchObject({ running: false, pid: undefined });
    expect(existsSync(platform.pidFile)).toBe(false);
    expect(await readFile(platform.logFile, "utf8")).toContain("stand-in listening");
  });

  it("refuses a port that another program holds", async () => {
    const settings = await localSettings();
    const platform = settings.platform.kind === "local" ? settings.platform : undefined;
    if (platform === undefined) throw new Error("expected the local platform");
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(platform.port, "127.0.0.1", resolve));
    onTestFinished(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
    await mkdir(platform.deployDir, { recursive: true });
    const err = await startLocalServer(settings, { entry: "/nonexistent.js" }).catch((e: unknown) => e);
    expect((err as UserError).code).toBe("PORT_IN_USE");
  });
});

describe("waitForPing", () => {
  it("names the URL and quotes the server log when nothing answers", async () => {
    const dir = await tempDir();
    const logFile = path.join(dir, "server.log");
    await writeTree(dir, { "server.log": "starting\nError: listen EACCES\n" });
    const probe = createServer();
    const port = await new Promise<number>((resolve) =>
      probe.listen(0, "127.0.0.1", () => {
        const address = probe.address();
        resolve(typeof address === "object" && address !== null ? address.port : 0);
      }),
    );
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const url = `http://127.0.0.1:${port}`;
    const err = await waitForPing(url, { timeoutMs: 600, intervalMs: 100, logFile }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain(url);
    expect((err as Error).message).toContain("Error: listen EACCES");
  });
});

const realServer = serverEntry(packageRoot());

describe.skipIf(!existsSync(realServer))("with the real registry server (dist/server-bundle/)", () => {
  it("deploys the built server into the app repository and runs it", async () => {
    const settings = await localSettings();
    if (settings.storage.kind === "local") await mkdir(settings.storage.root, { recursive: true });
    await ensureAppRepo(settings, { reporter: new RecordingReporter() });
    const tracked = gitOut(settings.appRemote, ["ls-tree", "-r", "--name-only", settings.appBranch]);
    expect(tracked).toContain("server/main.js");
    const platform = settings.platform.kind === "local" ? settings.platform : undefined;
    await startLocalServer(settings);
    await waitForPing(settings.appUrl, { timeoutMs: 15_000, logFile: platform?.logFile });
    const v2 = await fetch(`${settings.appUrl}/v2/`);
    expect(v2.status).toBe(200);
    expect(v2.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
  });
});
