/**
 * Graceful shutdown of the real server process (dist/server-bundle/main.js, built by `npm run build`):
 * on SIGTERM it stops accepting connections, finishes the request in flight (a search whose
 * backend takes 700 ms to answer), writes its last log lines and exits 0.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../src/adapters/package-root.js";
import { startPeer, type Peer } from "./helpers.js";
import { makeRaasApp, type RaasApp } from "./raas-app.js";

const MAIN = join(packageRoot(), "dist", "server-bundle", "main.js");

describe.runIf(existsSync(MAIN))("graceful shutdown (real process)", () => {
  let app: RaasApp;
  let gsa: Peer;
  beforeAll(async () => {
    // Stand-in for a slow search appliance: the request stays in flight for 700 ms.
    gsa = await startPeer((_req, res) => {
      setTimeout(() => res.end('<GSP><RES><R><MT N="portal_name" V="acme/app"/></R></RES></GSP>'), 700);
    });
    app = await makeRaasApp();
    await writeFile(app.repo.configPath, `[gsa]\nurl = ${gsa.url}/search\n`, { flag: "a" });
  });
  afterAll(async () => {
    await gsa.close();
    await app.repo.cleanup();
  });

  it("finishes the request in flight on SIGTERM, refuses new ones, and exits 0", async () => {
    const child = spawn(
      process.execPath,
      [MAIN, "--config", app.repo.configPath, "--host", "127.0.0.1", "--port", "0"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line: ${stdout}`)), 15_000);
        child.stdout.on("data", () => {
          const m = /"event":"listening","url":"([^"]+)"/.exec(stdout);
          if (m?.[1] !== undefined) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
      });
      const inFlight = fetch(`${url}/v1/search?q=acme`);
      while (gsa.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
      child.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 150));
      await expect(fetch(`${url}/v2/`, { headers: { Connection: "close" } })).rejects.toThrow();
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { results: { name: string }[] }).results.map((r) => r.name)).toEqual([
        "acme/app",
      ]);
      expect(await exited).toBe(0);
      const events = stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { event: string; path?: string; status?: number });
      expect(events.map((e) => e.event)).toContain("shutdown");
      expect(events).toContainEqual(
        expect.objectContaining({ event: "request", path: "/v1/search?q=acme", status: 200 }),
      );
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
