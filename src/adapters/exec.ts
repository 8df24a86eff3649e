/**
 * Subprocesses, always as argument arrays, never through a shell. The only module that
 * imports execa; long-lived background processes use node:child_process directly, since
 * they must outlive the promise-based execa call.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { execa } from "execa";
import { UserError } from "../errors.js";

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  input?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Run `file args...` to completion; a failure becomes a UserError naming the command. */
export async function run(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    timeout: options.timeoutMs,
    input: options.input,
    reject: false,
    stripFinalNewline: true,
  });
  if (result.failed) {
    const why = result.timedOut
      ? `timed out after ${options.timeoutMs} ms`
      : result.exitCode === undefined
        ? (result.originalMessage ?? result.shortMessage)
        : `exited with ${result.exitCode}`;
    const detail = String(result.stderr).trim().split("\n").slice(-5).join("\n  ");
    throw new UserError(`${file} ${why}${detail === "" ? "" : `:\n  ${detail}`}`, { code: "COMMAND_FAILED" });
  }
  return { stdout: String(result.stdout), stderr: String(result.stderr) };
}

export interface ExchangeResult {
  /** undefined when the process did not exit normally (not found, killed, timed out). */
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** The executable was not found (ENOENT) or could not be run (EACCES). */
  notFound: boolean;
  timedOut: boolean;
  /** stdout or stderr passed `maxBytes`; the process was killed. */
  tooLarge: boolean;
}

/**
 * Run a helper program that answers one request on stdin with one reply on stdout, without
 * judging the answer: the caller reads exit code and output as a protocol (credential
 * helpers signal "not found" with exit 1 and a message). Output is bounded, the time too.
 */
export async function exchange(
  file: string,
  args: readonly string[],
  options: { input: string; env?: Record<string, string | undefined>; timeoutMs: number; maxBytes: number },
): Promise<ExchangeResult> {
  const result = await execa(file, args, {
    env: options.env,
    extendEnv: false,
    timeout: options.timeoutMs,
    forceKillAfterDelay: 1000,
    input: options.input,
    maxBuffer: options.maxBytes,
    reject: false,
    stripFinalNewline: true,
  });
  const code = (result as { code?: unknown }).code;
  return {
    exitCode: result.failed && result.exitCode === undefined ? undefined : result.exitCode,
    stdout: typeof result.stdout === "string" ? result.stdout : "",
    stderr: typeof result.stderr === "string" ? result.stderr : "",
    notFound: code === "ENOENT" || code === "EACCES",
    timedOut: result.timedOut,
    tooLarge: result.isMaxBuffer,
  };
}

export interface DetachedOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** stdout and stderr are appended here. */
  logFile: string;
}

/** Start a process that keeps running after raas exits; returns its pid. */
export function spawnDetached(file: string, args: readonly string[], options: DetachedOptions): number {
  const log = openSync(options.logFile, "a");
  try {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ["ignore", log, log],
    });
    // A missing executable is reported through pid === undefined; the event must not crash us.
    child.on("error", () => undefined);
    if (child.pid === undefined) throw new UserError(`could not start ${file}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** True while a process with this pid exists (and we may signal it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The command line of a process, where the OS exposes it (Linux /proc); undefined elsewhere. */
export async function commandLine(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, "utf8");
    return raw.split("\0").filter((part) => part !== "");
  } catch {
    return undefined;
  }
}
