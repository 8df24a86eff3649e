/**
 * The cluster's primary killed without a word (SIGKILL, out of memory), with the real bundle
 * (dist/server-bundle/main.js, built by `npm run build`): node:cluster would end every worker at
 * once. raas's workers drain instead, as on SIGTERM: the download in flight completes, the pull
 * statistics they have not stored yet are stored, and they exit.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../src/adapters/package-root.js";
import { isAlive } from "../../src/adapters/exec.js";
import { rawRequest } from "../../src/server/testing/fixture.js";
import { readPullStats } from "../../src/stats/aggregate.js";
import { LocalStore } from "../../src/storage/local.js";
import { makeRaasApp, type RaasApp } from "./raas-app.js";

const MAIN = join(packageRoot(), "dist", "server-bundle", "main.js");
const BIG = 48 * 1024 * 1024;

type Event = { event: string; [key: string]: unknown };

describe.runIf(existsSync(MAIN))("the registry's workers when the primary is killed (real process)", () => {
  let app: RaasApp;
  let blobPath: string;
  beforeAll(async () => {
    // A long statistics flush: only the drain can have stored the counts this test reads.
    app = await makeRaasApp("[stats]\nflush_interval = 600s\n");
    const [digest] = [...app.acme.blobBytes.keys()];
    blobPath = `/v2/acme/app/blobs/${digest}`;
    await writeFile(join(app.repo.contentV2, "acme-app", "blobs", digest ?? ""), Buffer.alloc(BIG, 0x5a));
  });
  afterAll(async () => {
    await app.repo.cleanup();
  });

  it("finish the download in flight, store their pull statistics and exit", async () => {
    const child = spawn(
      process.execPath,
      [MAIN, "--config", app.repo.configPath, "--host", "127.0.0.1", "--port", "0"],
      { env: { PATH: process.env.PATH ?? "", RAAS_WORKERS: "2" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const events = (): Event[] =>
      stdout
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Event);
    const workers = () =>
      events()
        .filter((e) => e.event === "worker" && e.state === "listening")
        .map((e) => e.pid as number);
    const until = async (what: string, check: () => boolean, ms = 20_000) => {
      const deadline = Date.now() + ms;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`no ${what}`);
        await sleep(25);
      }
    };
    try {
      await until("two listening workers", () => workers().length === 2);
      const url = events().find((e) => e.event === "listening")?.url as string;
      // Six counted pulls, each on its own connection (so both workers answer some).
      for (let i = 0; i < 6; i++) {
        const res = await rawRequest(url, "GET", "/v2/acme/app/manifests/latest", {
          Connection: "close",
          Accept: "application/vnd.docker.distribution.manifest.v2+json",
        });
        expect(res.status).toBe(200);
      }
      // A download starts; the client reads the rest only after the primary is gone.
      const inFlight = await fetch(`${url}${blobPath}`);
      expect(inFlight.status).toBe(200);
      const reader = inFlight.body?.getReader();
      if (reader === undefined) throw new Error("no body");
      let received = (await reader.read()).value?.length ?? 0;

      child.kill("SIGKILL");
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.length;
      }
      expect(received).toBe(BIG);
      const pids = workers();
      await until("the workers to exit", () => pids.every((pid) => !isAlive(pid)));
      expect(
        events()
          .filter((e) => e.event === "shutdown")
          .map((e) => e.signal),
      ).toEqual(["primary gone", "primary gone"]);
      const stats = await readPullStats(new LocalStore(app.repo.contentV2), { repository: "acme/app" });
      expect(stats.reduce((n, s) => n + s.pulls, 0)).toBe(6);
    } catch (err) {
      const what = err instanceof Error ? err.message : String(err);
      throw new Error(`${what}\nstdout:\n${stdout}\nstderr:\n${stderr}`, { cause: err });
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      for (const pid of workers()) if (isAlive(pid)) process.kill(pid, "SIGKILL");
    }
  });
});
