/** The bundled registry server (dist/server-bundle/main.js) as a child process, for tests. */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { packageRoot } from "../../src/adapters/package-root.js";

export const MAIN = join(packageRoot(), "dist", "server-bundle", "main.js");

/** A port free right now on loopback (for a realm URL that must be known before the server starts). */
export { freePort } from "./free-port.js";

export class ServerProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = "";
  stderr = "";

  constructor(configPath: string, port: number, env: Record<string, string>) {
    this.child = spawn(
      process.execPath,
      [MAIN, "--config", configPath, "--host", "127.0.0.1", "--port", String(port)],
      { env: { PATH: process.env.PATH ?? "", ...env } },
    );
    this.child.stdout.on("data", (c: Buffer) => (this.stdout += c.toString()));
    this.child.stderr.on("data", (c: Buffer) => (this.stderr += c.toString()));
  }

  async waitFor(what: string, match: (e: Record<string, unknown>) => boolean, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const events = this.stdout
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      if (events.some(match)) return;
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`no ${what}; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      }
      await sleep(25);
    }
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}
