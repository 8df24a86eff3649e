import { CommanderError } from "commander";
import { UserError } from "../errors.js";
import { JsonReporter, PlainReporter } from "../ui/plain.js";
import type { LogLevel, Reporter } from "../ui/reporter.js";
import { escapeControl, SafeReporter } from "../ui/safe-text.js";
import { TtyReporter } from "../ui/tty.js";
import { ExitCode } from "./exit-codes.js";
import { processIo, type CliIo } from "./io.js";
import { buildProgram, type GlobalOptions, type Invocation } from "./program.js";
import { render } from "./render.js";

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
      reporter = new SafeReporter(makeReporter(globals, io));
      const { dispatch } = await import("./dispatch.js");
      const result = await dispatch(invocation, globals, { io, reporter });
      exitCode = render(invocation.command, result, globals, write(io.stdout));
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

function makeReporter(globals: GlobalOptions, io: CliIo): Reporter {
  const level: LogLevel = globals.terse ? "warn" : globals.log;
  const out = { write: (t: string) => void io.stdout.write(t) };
  const err = { write: (t: string) => void io.stderr.write(t) };
  if (globals.json) return new JsonReporter(globals.log === "debug" ? "debug" : "warn", err);
  const stderr = io.stderr as NodeJS.WriteStream;
  if (io.stderr.isTTY === true && io.env.CI === undefined && !globals.terse) {
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
        `cause: ${escapeControl(error.cause instanceof Error ? (error.cause.stack ?? error.cause.message) : String(error.cause))}\n`,
      );
    }
    return error.exitCode;
  }
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
