/**
 * Everything a command tells the user goes through a Reporter. The CLI picks one:
 * TTY (spinners), plain lines (CI, pipes) or JSON (only the final result is printed).
 */
export type LogLevel = "error" | "warn" | "info" | "debug";

export interface Step {
  /** Replace the step's text (e.g. progress "12/40 MiB"). */
  update(text: string): void;
  succeed(text?: string): void;
  fail(text?: string): void;
  /** Finish without success or failure marks (e.g. skipped). */
  info(text?: string): void;
}

export interface Reporter {
  readonly level: LogLevel;
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  /** Troubleshooting detail (`--log debug`): every external call with its timing, never secrets. */
  debug(message: string): void;
  step(text: string): Step;
  /** Stop whatever is animating (an interrupted run); later output is plain lines. */
  stop?(): void;
}

const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export function enabled(current: LogLevel, wanted: LogLevel): boolean {
  return ORDER[wanted] <= ORDER[current];
}

/** A reporter that records messages; used by tests and by library callers that want quiet. */
export class RecordingReporter implements Reporter {
  readonly lines: string[] = [];

  constructor(readonly level: LogLevel = "debug") {}

  error(message: string): void {
    this.lines.push(`error: ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn: ${message}`);
  }
  info(message: string): void {
    this.lines.push(message);
  }
  debug(message: string): void {
    if (enabled(this.level, "debug")) this.lines.push(`debug: ${message}`);
  }
  step(text: string): Step {
    this.lines.push(`step: ${text}`);
    return {
      update: () => undefined,
      succeed: (t) => void this.lines.push(`ok: ${t ?? text}`),
      fail: (t) => void this.lines.push(`failed: ${t ?? text}`),
      info: (t) => void this.lines.push(`- ${t ?? text}`),
    };
  }
}
