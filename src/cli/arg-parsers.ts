/**
 * Parsers for flag values shared by several commands. A bad value is commander's
 * InvalidArgumentError, which the CLI reports as a usage error (exit 2) naming the flag.
 */
import { InvalidArgumentError } from "commander";

/** A week: longer than any wait raas does, and far below what a timer can hold (2^31 - 1 ms). */
export const MAX_TIMEOUT_SECONDS = 7 * 24 * 3600;

/** `--timeout <seconds>`: a whole number of seconds from 1 to a week. */
export function timeoutSeconds(value: string): number {
  const n = /^\d{1,7}$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n <= 0 || n > MAX_TIMEOUT_SECONDS) {
    throw new InvalidArgumentError(
      `must be a whole number of seconds from 1 to ${MAX_TIMEOUT_SECONDS} (7 days)`,
    );
  }
  return n;
}
