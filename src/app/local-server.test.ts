/**
 * The local registry process gets only the environment it needs: raas's own secrets (S3 keys, a
 * session token, an OpenShift token, anything else in the operator's shell) stay out of it.
 * Checked on the real child process through /proc/<pid>/environ.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { resolveIsv } from "../config/isv.js";
import { loadConfig } from "../config/load.js";
import type { IsvSettings } from "../config/types.js";
import { RecordingReporter } from "../ui/reporter.js";
import { reservePort } from "../../test/helpers/cli.js";
import { fakeRaasPackage, tempDir, writeTree } from "../../test/helpers/git.js";
import { ensureAppRepo } from "./app-repo.js";
import { serverEnvironment, startLocalServer, stopLocalServer } from "./local-server.js";
import { packageRoot } from "../adapters/package-root.js";
import { serverEntry } from "./server-runtime.js";
import { SERVER_NODE_FLAGS } from "../server/workers.js";
import { waitForPing } from "./ping.js";

const PLANTED = {
  AWS_ACCESS_KEY_ID: "AKIAPLANTEDPLANTED01",
  AWS_SECRET_ACCESS_KEY: "planted-secret-access-key-0123456789",
  AWS_SESSION_TOKEN: "planted-session-token-0123456789",
  OPENSHIFT_TOKEN: "sha256~planted-openshift-token",
  RAAS_PLANTED_SECRET: "planted-anything-else",
  PORT: "1",
  NODE_OPTIONS: "--require /nonexistent/planted.js",
};

async function settingsFor(storage: "local" | "s3", extraCfg = ""): Promise<IsvSettings> {
  const cwd = await tempDir();
  await writeTree(cwd, {
    "raas.cfg": `${extraCfg}\n[acme]\nstorage = ${storage}\n`,
  });
  // Plain HTTP: this test is about the process's environment, not TLS.
  const env = { HOME: cwd, RAAS_HOME: path.join(cwd, "state"), RAAS_TLS: "off" };
  await reservePort(path.join(cwd, "state"), "acme");
  return resolveIsv(await loadConfig({ cwd, env }), "acme");
}

function plant(): void {
  const saved = Object.fromEntries(Object.keys(PLANTED).map((k) => [k, process.env[k]]));
  Object.assign(process.env, PLANTED);
  onTestFinished(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

async function environOf(pid: number): Promise<Map<string, string>> {
  const raw = await readFile(`/proc/${pid}/environ`, "utf8");
  return new Map(
    raw
      .split("\0")
      .filter((entry) => entry !== "")
      .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
  );
}

describe.runIf(existsSync("/proc/self/environ"))("the local registry process's environment", () => {
  it("holds none of raas's secrets with local storage", async () => {
    plant();
    const settings = await settingsFor("local");
    const root = await fakeRaasPackage(packageRoot());
    await ensureAppRepo(settings, { reporter: new RecordingReporter(), packageRoot: root });
    const started = await startLocalServer(settings, { entry: serverEntry(root) });
    onTestFinished(() => void stopLocalServer(settings));
    const platform = settings.platform.kind === "local" ? settings.platform : undefined;
    await waitForPing(settings.appUrl, { timeoutMs: 10_000, logFile: platform?.logFile });
    const env = await environOf(started.pid ?? 0);
    for (const name of Object.keys(PLANTED)) expect(env.has(name)).toBe(false);
    const text = [...env.values()].join("\n");
    for (const value of Object.values(PLANTED).filter((v) => v.length > 8)) expect(text).not.toContain(value);
    expect(env.get("PATH")).toBe(process.env.PATH);
    // Started like the app's image starts it: node's own flags, then the bundle.
    const argv = (await readFile(`/proc/${started.pid ?? 0}/cmdline`, "utf8")).split("\0");
    expect(argv.slice(1, 2 + SERVER_NODE_FLAGS.length)).toEqual([...SERVER_NODE_FLAGS, serverEntry(root)]);
    await stopLocalServer(settings);
  });
});

describe("serverEnvironment", () => {
  it("gives S3 credentials only to an S3 server (it presigns and writes statistics), and never PORT or NODE_OPTIONS", async () => {
    const parent = { ...PLANTED, PATH: "/usr/bin", HOME: "/home/op", AWS_PROFILE: "ops" };
    const local = await settingsFor("local");
    expect(serverEnvironment(local, parent)).toEqual({ PATH: "/usr/bin" });

    // Public redirects need no signature, but pull statistics and events are written to the bucket.
    const publicS3 = await settingsFor("s3", "[s3]\nredirect = public\npublic_read = true");
    expect(Object.keys(serverEnvironment(publicS3, parent)).sort()).toEqual([
      "AWS_ACCESS_KEY_ID",
      "AWS_PROFILE",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_SESSION_TOKEN",
      "HOME",
      "PATH",
    ]);
    // Event header variables are passed by name, and only those.
    const withEvents = {
      ...local,
      events: [
        {
          name: "c",
          url: "http://127.0.0.1:1/",
          headers: { authorization: "Bearer ${HOOK_TOKEN}" },
          timeoutMs: 1000,
          threshold: 1,
          backoffMs: 1000,
          ignoredActions: [],
          ignoredMediaTypes: [],
          maxBacklog: 10,
          pullEvents: "window" as const,
          pullWindowMs: 1000,
        },
      ],
    };
    expect(serverEnvironment(withEvents, { ...parent, HOOK_TOKEN: "t0k" })).toEqual({
      PATH: "/usr/bin",
      HOOK_TOKEN: "t0k",
    });

    // Presigning with no keys in the configuration: the SDK's credential chain, nothing else.
    const presigned = await settingsFor("s3", "[s3]\nredirect = presigned");
    if (presigned.storage.kind !== "s3") throw new Error("expected s3");
    const withChain = serverEnvironment(
      { ...presigned, storage: { ...presigned.storage, credentials: undefined } },
      parent,
    );
    expect(withChain).toEqual({
      PATH: "/usr/bin",
      HOME: "/home/op",
      AWS_PROFILE: "ops",
      AWS_ACCESS_KEY_ID: PLANTED.AWS_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: PLANTED.AWS_SECRET_ACCESS_KEY,
      AWS_SESSION_TOKEN: PLANTED.AWS_SESSION_TOKEN,
    });
    // Configured keys win, and the rest of the chain is not passed.
    const configured = serverEnvironment(
      {
        ...presigned,
        storage: {
          ...presigned.storage,
          credentials: { accessKeyId: "AKIACONFIGURED", secretAccessKey: "cfg" },
        },
      },
      parent,
    );
    expect(configured).toEqual({
      PATH: "/usr/bin",
      AWS_ACCESS_KEY_ID: "AKIACONFIGURED",
      AWS_SECRET_ACCESS_KEY: "cfg",
    });
  });
});
