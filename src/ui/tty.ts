import ora, { type Ora } from "ora";
import { enabled, type LogLevel, type Reporter, type Step } from "./reporter.js";

/** Interactive terminal: one spinner per running step, finished steps stay on screen. */
export class TtyReporter implements Reporter {
  private active: Ora | undefined;

  constructor(
    readonly level: LogLevel,
    private readonly stream: NodeJS.WriteStream,
  ) {}

  private pause<T>(fn: () => T): T {
    const spinner = this.active;
    if (spinner?.isSpinning === true) {
      spinner.clear();
      const result = fn();
      spinner.render();
      return result;
    }
    return fn();
  }

  error(message: string): void {
    this.pause(() => this.stream.write(`✖ ${message}\n`));
  }
  warn(message: string): void {
    if (enabled(this.level, "warn")) this.pause(() => this.stream.write(`⚠ ${message}\n`));
  }
  info(message: string): void {
    if (enabled(this.level, "info")) this.pause(() => this.stream.write(`${message}\n`));
  }
  debug(message: string): void {
    if (enabled(this.level, "debug")) this.pause(() => this.stream.write(`· ${message}\n`));
  }
  stop(): void {
    this.active?.stop();
    this.active = undefined;
  }
  step(text: string): Step {
    if (!enabled(this.level, "info")) {
      const noop = (): void => undefined;
      return { update: noop, succeed: noop, fail: (t) => this.error(t ?? text), info: noop };
    }
    const spinner = ora({ text, stream: this.stream }).start();
    this.active = spinner;
    const done = (): void => {
      if (this.active === spinner) this.active = undefined;
    };
    return {
      update: (t) => {
        spinner.text = `${text} ${t}`;
      },
      succeed: (t) => {
        spinner.succeed(t ?? text);
        done();
      },
      fail: (t) => {
        spinner.fail(t ?? text);
        done();
      },
      info: (t) => {
        spinner.info(t ?? text);
        done();
      },
    };
  }
}
