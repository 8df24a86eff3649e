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

  /**
   * SIGTERM, then wait for the exit (SIGKILL after 10 s). Waiting matters: the workers may still be
   * writing into the app repo, and a test that removes it under them fails with ENOTEMPTY.
   */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
