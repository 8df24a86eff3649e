import { inspect } from "node:util";
import { CommanderError } from "commander";
import { InterruptedError, UserError } from "../errors.js";
import { networkAddress, networkError } from "../network-errors.js";
import { JsonReporter, PlainReporter } from "../ui/plain.js";
import type { LogLevel, Reporter } from "../ui/reporter.js";
import { escapeControl, SafeReporter } from "../ui/safe-text.js";
import { TtyReporter } from "../ui/tty.js";
import { ExitCode } from "./exit-codes.js";
import { processIo, type CliIo } from "./io.js";
import { buildProgram, type GlobalOptions, type Invocation } from "./program.js";
import { completedDespiteInterrupt, render, type CommandResult } from "./render.js";

/**
 * Run the CLI and return the exit code. The only place errors become exit codes;
 * only bin/raas.js touches process.exitCode.
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  let exitCode: number = ExitCode.ok;
  let reporter: Reporter | undefined;
  let json = false;
  // Everything printed may hold names from the input: control characters are shown, not sent.
  const write = (stream: NodeJS.WritableStream) => ({
    write: (text: string) => void stream.write(escapeControl(text)),
  });

  const program = buildProgram(
    async (invocation, globals) => {
      json = globals.json;
      const active = new SafeReporter(makeReporter(globals, io));
      reporter = active;
      const stop = new AbortController();
      // One listener for the whole run: `serve` ends on it, every other command is interrupted by it.
      const stopped = io.untilSignal().then((signal) => {
        stop.abort(signal);
        return signal;
      });
      if (invocation.command === "status") io.favourMemory?.();
      const { dispatch } = await import("./dispatch.js");
      const edge = {
        io: { ...io, untilSignal: () => stopped },
        reporter: active,
        signal: stop.signal,
      };
      const work = dispatch(invocation, globals, edge);
      if (invocation.command === "serve") {
        exitCode = render(await work, globals, write(io.stdout));
        return;
      }
      const outcome = await Promise.race([
        work.then((result) => ({ result })),
        stopped.then((signal) => ({ signal })),
      ]);
      if ("result" in outcome) {
        exitCode = render(outcome.result, globals, write(io.stdout));
        return;
      }
      exitCode = await interrupted(outcome.signal, work, {
        reporter: active,
        io,
        json,
        render: (result) => render(result, globals, write(io.stdout)),
      });
    },
    {
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
    },
  );

  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    return reportError(error, { json, reporter, io });
  }
}

/** How long an interrupted command gets to finish its cleanup (close storage, record the run) before raas exits. */
const INTERRUPT_GRACE_MS = 3000;

/**
 * SIGINT or SIGTERM during a command: stop the spinner, let the command's own cleanup run
 * (the abort closes its storage connections, so uploads in flight end), then exit 130.
 * What a cut-off push left is safe (see README, "Interrupted pushes"). A push the signal
 * reached only after its metadata commit is published: its result is reported as usual
 * (exit 0), saying the interrupt came too late.
 */
async function interrupted(
  signal: NodeJS.Signals,
  work: Promise<CommandResult>,
  ctx: { reporter: Reporter; io: CliIo; json: boolean; render: (result: CommandResult) => number },
): Promise<number> {
  ctx.reporter.stop?.();
  ctx.io.stderr.write(`interrupted by ${signal}; stopping\n`);
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    work.then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    ),
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), INTERRUPT_GRACE_MS))),
  ]);
  clearTimeout(timer);
  if (settled !== undefined && "result" in settled && completedDespiteInterrupt(settled.result)) {
    return ctx.render(settled.result);
  }
  // The command's own account of what the interrupt left (push: nothing was committed).
  const message =
    settled !== undefined && "error" in settled && settled.error instanceof InterruptedError
      ? settled.error.message
      : `interrupted by ${signal}`;
  if (ctx.json) {
    ctx.io.stdout.write(
      `${JSON.stringify({ ok: false, error: { code: "INTERRUPTED", message } }, null, 2)}\n`,
    );
  }
  ctx.io.stderr.write(`error: ${escapeControl(message)}\n`);
  return ExitCode.interrupted;
}

/** Spinners need a terminal that reports a usable width; anything else gets plain lines. */
const MIN_COLUMNS = 20;

export function makeReporter(globals: GlobalOptions, io: CliIo): Reporter {
  const level: LogLevel = globals.terse ? "warn" : globals.log;
  const out = { write: (t: string) => void io.stdout.write(t) };
  const err = { write: (t: string) => void io.stderr.write(t) };
  if (globals.json) return new JsonReporter(globals.log === "debug" ? "debug" : "warn", err);
  const stderr = io.stderr as NodeJS.WriteStream;
  const columns = stderr.columns;
  const saneSize = Number.isInteger(columns) && columns >= MIN_COLUMNS;
  if (io.stderr.isTTY === true && saneSize && io.env.CI === undefined && !globals.terse) {
    return new TtyReporter(level, stderr);
  }
  return new PlainReporter(level, globals.terse ? err : out, err);
}

function reportError(
  error: unknown,
  ctx: { json: boolean; reporter: Reporter | undefined; io: CliIo },
): number {
  const { io } = ctx;
  if (error instanceof UserError) {
    if (ctx.json) {
      io.stdout.write(
        `${JSON.stringify({ ok: false, error: { code: error.code, message: error.message, hint: error.hint } }, null, 2)}\n`,
      );
    }
    io.stderr.write(`error: ${escapeControl(error.message)}\n`);
    if (error.hint !== undefined) io.stderr.write(`hint: ${escapeControl(error.hint)}\n`);
    if (ctx.reporter?.level === "debug" && error.cause !== undefined) {
      io.stderr.write(
        `cause: ${escapeControl(error.cause instanceof Error ? (error.cause.stack ?? error.cause.message) : inspect(error.cause))}\n`,
      );
    }
    return error.exitCode;
  }
  // A failed connection that no command translated (network-errors.ts) is still not a bug.
  const network = networkError(error, networkAddress(error) ?? "a server");
  if (network !== undefined) return reportError(network, ctx);
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  if (ctx.json) {
    io.stdout.write(
      `${JSON.stringify({ ok: false, error: { code: "INTERNAL", message: String(error) } }, null, 2)}\n`,
    );
  }
  io.stderr.write(`internal error: ${escapeControl(detail)}\n`);
  io.stderr.write(
    `This is a bug in raas (node ${process.version}); please report it with the command you ran.\n`,
  );
  return ExitCode.failure;
}

export type { Invocation };
