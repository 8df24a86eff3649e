import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, sep } from "node:path";
import { PassThrough } from "node:stream";
import { commandLine } from "../../src/adapters/exec.js";
import { main } from "../../src/cli/main.js";
import { freePort } from "./free-port.js";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the raas CLI in-process with captured output, a chosen cwd and a clean environment. */
export async function runCli(
  argv: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on("data", (c: Buffer) => out.push(c));
  stderr.on("data", (c: Buffer) => err.push(c));
  const code = await main(argv, {
    stdout,
    stderr,
    env: options.env,
    cwd: options.cwd,
    untilSignal: () => new Promise(() => undefined),
  });
  return { code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
}

/**
 * The environment a test CLI run sees: only what raas documents, pointed at temp dirs. Plain
 * HTTP (`RAAS_TLS=off`) for the tests that are not about TLS; the HTTPS default has its own
 * tests (`extra` with `RAAS_TLS: "on"`, test/e2e/https.e2e.test.ts).
 */
export function cliEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    RAAS_HOME: `${home}/raas`,
    RAAS_TLS: "off",
    CI: "true",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_AUTHOR_NAME: "raas test",
    GIT_AUTHOR_EMAIL: "test@raas.invalid",
    GIT_COMMITTER_NAME: "raas test",
    GIT_COMMITTER_EMAIL: "test@raas.invalid",
    ...extra,
  };
}

/**
 * Give an ISV of the embedded default a port the OS just handed out, recorded where raas
 * remembers ports (`$RAAS_HOME/<isv>/platform.json`), so test files running side by side never
 * race for the same port from 5000 up.
 */
export async function reservePort(raasHome: string, isv: string): Promise<number> {
  const port = await freePort();
  await mkdir(join(raasHome, isv), { recursive: true });
  await writeFile(join(raasHome, isv, "platform.json"), `${JSON.stringify({ port })}\n`);
  return port;
}

/** Stop the registry server `raas setup` left running in the background for an ISV, if any. */
export async function stopBackgroundServer(raasHome: string, isv: string): Promise<void> {
  const pid = await readFile(join(raasHome, isv, "server.pid"), "utf8").catch(() => undefined);
  if (pid === undefined) return;
  const id = Number(pid.trim());
  // Only that ISV's server: a pid file can outlive its process, and the pid can belong to another
  // test's process by now (its registry, say, in the middle of a request).
  const argv = await commandLine(id);
  const ours = join(raasHome, isv) + sep;
  if (argv !== undefined && !argv.some((arg) => arg.startsWith(ours))) {
    return;
  }
  try {
    process.kill(id, "SIGTERM");
  } catch {
    return; // already gone
  }
  // Wait for it to exit: on shutdown the server still writes its last statistics to storage,
  // which would race a test's cleanup of the storage directory.
  const alive = () => {
    try {
      process.kill(id, 0);
      return true;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 10_000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
