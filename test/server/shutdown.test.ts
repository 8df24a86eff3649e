/**
 * Graceful shutdown of the real server process (dist/server-bundle/main.js, built by `npm run build`):
 * on SIGTERM it stops accepting connections, finishes the request in flight (a 48 MiB blob the
 * client reads only after the signal, so it is in flight however slow the machine is), writes
 * its last log lines and exits 0.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../src/adapters/package-root.js";
import { makeRaasApp, type RaasApp } from "./raas-app.js";

const MAIN = join(packageRoot(), "dist", "server-bundle", "main.js");

describe.runIf(existsSync(MAIN))("graceful shutdown (real process)", () => {
  let app: RaasApp;
  let blobPath: string;
  const BIG = 48 * 1024 * 1024;
  beforeAll(async () => {
    app = await makeRaasApp();
    // The served file stands in for a large layer: the server streams whatever the file holds.
    const [digest] = [...app.acme.blobBytes.keys()];
    blobPath = `/v2/acme/app/blobs/${digest}`;
    await writeFile(join(app.repo.contentV2, "acme-app", "blobs", digest ?? ""), Buffer.alloc(BIG, 0x5a));
  });
  afterAll(async () => {
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
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    let exit = "still running";
    const exited = new Promise<number | null>((resolve) =>
      child.once("exit", (code, signal) => {
        exit = `exit code ${code}, signal ${signal}`;
        resolve(code);
      }),
    );
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
      // The response starts, and the client holds the rest unread until after the signal.
      const inFlight = await fetch(`${url}${blobPath}`);
      expect(inFlight.status).toBe(200);
      const reader = inFlight.body?.getReader();
      if (reader === undefined) throw new Error("no body");
      let received = (await reader.read()).value?.length ?? 0;
      child.kill("SIGTERM");
      const deadline = Date.now() + 20_000;
      while (!stdout.includes('"event":"shutdown"')) {
        if (Date.now() > deadline) throw new Error(`no shutdown line: ${stdout}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await expect(fetch(`${url}/v2/`, { headers: { Connection: "close" } })).rejects.toThrow();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.length;
      }
      expect(received).toBe(BIG);
      expect(await exited).toBe(0);
      const events = stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { event: string; path?: string; status?: number });
      expect(events.map((e) => e.event)).toContain("shutdown");
      expect(events).toContainEqual(
        expect.objectContaining({ event: "request", path: blobPath, status: 200 }),
      );
    } catch (err) {
      // What the server said and how it ended, so that a failure can be told from a crash.
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
      const what = err instanceof Error ? err.message : String(err);
      throw new Error(`${what}\nserver ${exit}\nstdout:\n${stdout}\nstderr:\n${stderr}`, { cause: err });
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
