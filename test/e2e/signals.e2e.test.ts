/**
 * The real CLI binary (`node bin/raas.js`, built dist/) under signals and odd terminals:
 * SIGTERM and SIGINT end a run promptly (exit code 130, or 0 for a push the signal reached only
 * after its metadata commit; interrupted-push.e2e.test.ts covers one cut off before), and a terminal that reports 0
 * columns (what `script` gives a command whose stdin is no tty) gets plain output instead of
 * a spinner that never finishes drawing.
 */
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli } from "../helpers/cli.js";
import { buildOciLayout } from "../helpers/image-builder.js";

const BIN = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "raas.js");
const ISV = "sig";

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run a command, send `signal` once `ready` matches its output, and report how it ended. */
function runUntil(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; ready?: RegExp; signal?: NodeJS.Signals; limitMs: number },
): Promise<Ended> {
  return new Promise((resolve) => {
    const started = Date.now();
    // Its own process group, so a run that hangs is killed with everything it started.
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    let signalled: number | undefined;
    const check = () => {
      if (options.ready === undefined || signalled !== undefined) return;
      if (options.ready.test(stdout + stderr)) {
        signalled = Date.now();
        // A moment later: the run has moved on to what comes after the matched line.
        setTimeout(() => {
          signalled = Date.now();
          child.kill(options.signal ?? "SIGTERM");
        }, 1000);
      }
    };
    child.stdout.on("data", (c: Buffer) => ((stdout += c.toString()), check()));
    child.stderr.on("data", (c: Buffer) => ((stderr += c.toString()), check()));
    // A run that never ends fails the test instead of hanging it.
    const limit = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    }, options.limitMs);
    child.on("close", (code, signal) => {
      clearTimeout(limit);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - (signalled ?? started) });
    });
  });
}

describe("signals and terminals (real binary)", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let stuck: Server;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-signals-"));
    env = cliEnv(join(work, "home"));
    const port = await reservePort(join(work, "home", "raas"), ISV);
    const setup = await runCli(["setup", ISV, "--no-start"], { cwd: work, env });
    expect(setup.code, setup.stderr).toBe(0);
    // A registry that answers but never serves the new tag: a push waits its whole --timeout.
    stuck = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => stuck.listen(port, "127.0.0.1", resolve));
    await buildOciLayout(join(work, "img.tar"), { name: "sig/app", tag: "1.0", layers: 1 });
  }, 60_000);

  afterAll(async () => {
    await new Promise((resolve) => stuck.close(resolve));
    await rm(work, { recursive: true, force: true });
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`ends a waiting push on ${signal} within seconds; committed before the signal, it is published (exit 0)`, async () => {
      const run = await runUntil(process.execPath, [BIN, "push", ISV, "img.tar", "--timeout", "120"], {
        cwd: work,
        env,
        // After the commit, the push waits for the registry to serve the tag.
        ready: /Committed|nothing to commit/,
        signal,
        limitMs: 40_000,
      });
      expect(run.signal, run.stderr).toBeNull();
      // The signal came after the metadata commit: too late to stop the push, which is published.
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.stderr).toContain(`interrupted by ${signal}; stopping`);
      expect(run.stdout).toContain(`Note: ${signal} came after the metadata commit`);
      expect(run.stdout).toContain("Published sig/app:1.0");
      expect(run.ms).toBeLessThan(10_000);
    }, 60_000);
  }

  it("prints plain lines on a terminal that reports 0 columns, and finishes", async () => {
    const withoutCi = { ...env };
    delete withoutCi.CI;
    const raas = `${process.execPath} ${BIN} status ${ISV}`;
    const run = await runUntil("script", ["-qec", `stty cols 0 rows 0; ${raas}`, "/dev/null"], {
      cwd: work,
      env: withoutCi,
      limitMs: 30_000,
    });
    expect(run.signal, run.stdout).toBeNull();
    // No server process of raas's (--no-start): status finds it stopped and says so.
    expect(run.code, run.stdout).toBe(1);
    expect(run.stdout).toContain("the local registry server is stopped");
    expect(run.stdout).not.toContain("\u001b[1G");
  });
});
