/**
 * One error model for the whole tool. A UserError is an expected problem (bad input,
 * missing credentials, unreachable endpoint): the CLI prints its message and hint, no
 * stack. Anything else that escapes a command is a bug and is rendered with its stack.
 */
export interface UserErrorOptions {
  /** What the user can do about it. */
  hint?: string;
  /** Process exit code; 1 unless stated (2 is reserved for usage errors). */
  exitCode?: number;
  cause?: unknown;
  /** Stable machine-readable code for --json output, e.g. "DIGEST_MISMATCH". */
  code?: string;
}

export class UserError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: number;
  readonly code: string;

  constructor(message: string, options: UserErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "UserError";
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
    this.code = options.code ?? "ERROR";
  }
}

/** Bad input file: names the file and the problem. */
export class InputError extends UserError {
  readonly file: string;

  constructor(file: string, problem: string, options: UserErrorOptions = {}) {
    super(`${file}: ${problem}`, { code: "BAD_INPUT", ...options });
    this.name = "InputError";
    this.file = file;
  }
}

/** Wrong command-line usage; exit code 2. */
export class UsageError extends UserError {
  constructor(message: string, options: UserErrorOptions = {}) {
    super(message, { exitCode: 2, code: "USAGE", ...options });
    this.name = "UsageError";
  }
}

/**
 * SIGINT or SIGTERM stopped a command before the point where its work becomes visible (push:
 * the metadata commit). Exit code 130, as for any interrupted command.
 */
export class InterruptedError extends UserError {
  constructor(signal: unknown, what: string, cause?: unknown) {
    super(`interrupted by ${typeof signal === "string" ? signal : "a signal"}; ${what}`, {
      exitCode: 130,
      code: "INTERRUPTED",
      ...(cause === undefined ? {} : { cause }),
    });
    this.name = "InterruptedError";
  }
}

/** Throws InterruptedError when `signal` has been aborted (by SIGINT or SIGTERM). */
export function throwIfInterrupted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) throw new InterruptedError(signal.reason, what);
}

/**
 * An error's message. Some have none of their own: node:net's connect tries every address of a
 * name and fails with an AggregateError of the attempts' errors; their messages (or the error's
 * code, or its name) are given instead of an empty string.
 */
export function errorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.message !== "") return err.message;
  const inner = err instanceof AggregateError ? (err.errors as unknown[]).map(errorMessage) : [];
  const parts = [...new Set(inner.filter((m) => m !== ""))];
  if (parts.length > 0) return parts.join("; ");
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? code : err.name;
}
