import { enabled, type LogLevel, type Reporter, type Step } from "./reporter.js";

export interface Output {
  write(text: string): void;
}

/**
 * Plain lines, for CI logs and pipes: one line per event, no cursor tricks, progress updates
 * rate-limited so a log does not fill with percentages.
 */
export class PlainReporter implements Reporter {
  constructor(
    readonly level: LogLevel,
    private readonly out: Output,
    private readonly err: Output,
  ) {}

  error(message: string): void {
    this.err.write(`error: ${message}\n`);
  }
  warn(message: string): void {
    if (enabled(this.level, "warn")) this.err.write(`warning: ${message}\n`);
  }
  info(message: string): void {
    if (enabled(this.level, "info")) this.out.write(`${message}\n`);
  }
  debug(message: string): void {
    if (enabled(this.level, "debug")) this.err.write(`debug: ${message}\n`);
  }
  step(text: string): Step {
    const show = enabled(this.level, "info");
    let lastUpdate = 0;
    return {
      update: (t) => {
        const now = Date.now();
        if (show && now - lastUpdate >= 5000) {
          lastUpdate = now;
          this.out.write(`  ${t}\n`);
        }
      },
      succeed: (t) => {
        if (show) this.out.write(`✔ ${t ?? text}\n`);
      },
      fail: (t) => this.err.write(`✖ ${t ?? text}\n`),
      info: (t) => {
        if (show) this.out.write(`- ${t ?? text}\n`);
      },
    };
  }
}

/**
 * For --json: the only thing on stdout is the final result document, printed by the CLI.
 * Human messages still go to stderr (warnings and errors only) so CI logs stay useful.
 */
export class JsonReporter extends PlainReporter {
  constructor(level: LogLevel, err: Output) {
    super(level, err, err);
  }

  // Progress and info lines would only clutter a log next to the JSON; kept for --log debug.
  override info(message: string): void {
    if (enabled(this.level, "debug")) super.info(message);
  }
  override step(_text: string): Step {
    const noop = (): void => undefined;
    return { update: noop, succeed: noop, fail: noop, info: noop };
  }
}
