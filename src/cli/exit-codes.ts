/** Documented exit codes (README "Exit codes"). */
export const ExitCode = {
  ok: 0,
  /** Something failed; for `status`, drift or a failed check was found. */
  failure: 1,
  /** Wrong usage: unknown command or option, bad argument. */
  usage: 2,
  /** `raas access check` answered DENY (the check itself ran; scripts tell it from an error). */
  denied: 3,
  /** Interrupted (SIGINT). */
  interrupted: 130,
} as const;
