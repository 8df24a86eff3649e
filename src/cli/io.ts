import { setFlagsFromString } from "node:v8";

/** The process edges the CLI touches, injectable so tests can run main() in-process. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Resolves when the user asks to stop (SIGINT/SIGTERM); used by long-running commands. */
  untilSignal: () => Promise<NodeJS.Signals>;
  /**
   * Asks V8 to favour memory over speed for the rest of the process (commands that read every
   * file of a large registry once); absent in-process, where it would slow the host.
   */
  favourMemory?: () => void;
}

export function processIo(): CliIo {
  return {
    // V8's --optimize-for-size, set once the command is known: a smaller growth factor for the
    // heap, so garbage is collected sooner. `raas status` at 10,000 repositories x 10 tags
    // peaked at 290-330 MiB without it and 180-190 MiB with it, in about 1.25x the time
    // (bench/README.md, "Push, re-push and status"). The flag is one V8 reads at each decision (heap
    // growth, compilation), not one fixed at start-up, and Node leaves flags unfrozen.
    favourMemory: () => setFlagsFromString("--optimize-for-size"),
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    untilSignal: () =>
      new Promise((resolve) => {
        const on = (signal: NodeJS.Signals): void => {
          process.off("SIGINT", on);
          process.off("SIGTERM", on);
          resolve(signal);
        };
        process.once("SIGINT", on);
        process.once("SIGTERM", on);
      }),
  };
}
