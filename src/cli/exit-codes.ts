/** Documented exit codes (README "Exit codes"). */
export const ExitCode = {
  ok: 0,
  /** Something failed; for `status`, drift or a failed check was found. */
  failure: 1,
  /** Wrong usage: unknown command or option, bad argument. */
  usage: 2,
  /** Interrupted (SIGINT). */
  interrupted: 130,
} as const;
