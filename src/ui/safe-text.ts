import type { LogLevel, Reporter, Step } from "./reporter.js";

/**
 * C0 and C1 control characters (newline and tab excepted), DEL, and the Unicode bidi
 * overrides: names read from archives and errors from servers reach the terminal through
 * messages, and an escape sequence in a member name would otherwise retitle, clear or
 * rewrite the operator's terminal.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every unsafe character shown as `\xHH` or `\uHHHH`. */
export function escapeControl(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** Wraps a reporter so every message it prints is escaped first. */
export class SafeReporter implements Reporter {
  constructor(private readonly inner: Reporter) {}

  get level(): LogLevel {
    return this.inner.level;
  }
  error(message: string): void {
    this.inner.error(escapeControl(message));
  }
  warn(message: string): void {
    this.inner.warn(escapeControl(message));
  }
  info(message: string): void {
    this.inner.info(escapeControl(message));
  }
  debug(message: string): void {
    this.inner.debug(escapeControl(message));
  }
  step(text: string): Step {
    const step = this.inner.step(escapeControl(text));
    const safe = (t: string | undefined) => (t === undefined ? undefined : escapeControl(t));
    return {
      update: (t) => step.update(escapeControl(t)),
      succeed: (t) => step.succeed(safe(t)),
      fail: (t) => step.fail(safe(t)),
      info: (t) => step.info(safe(t)),
    };
  }
}

/**
 * A value from an input (a name, a tag) as a message quotes it: JSON-quoted with control
 * characters escaped, and cut at `max` characters (whole code points, so a cut never splits a
 * surrogate pair) with its full length said.
 */
export function quoted(value: string, max = 120): string {
  const points = Array.from(value.slice(0, max * 2)).slice(0, max);
  const cut = points.join("");
  const shown = escapeControl(JSON.stringify(cut));
  return cut.length < value.length ? `${shown}… (${value.length} characters)` : shown;
}
