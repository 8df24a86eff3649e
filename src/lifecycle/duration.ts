import { UserError } from "../errors.js";

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `24h`, `7d` (or `0`) -> milliseconds. */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d{1,7})([smhd])?$/.exec(text.trim());
  if (match === null || (match[2] === undefined && match[1] !== "0")) {
    throw new UserError(`${what} "${text}" is not a duration`, {
      hint: "Write a whole number with a unit: 90s, 30m, 24h or 7d.",
      exitCode: 2,
      code: "USAGE",
    });
  }
  return Number(match[1]) * (UNITS[match[2] ?? "s"] ?? 1000);
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ["d", UNITS.d],
    ["h", UNITS.h],
    ["m", UNITS.m],
  ] as const) {
    if (size !== undefined && ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}
