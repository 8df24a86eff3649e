import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "./duration.js";

describe("durations", () => {
  it.each([
    ["0", 0],
    ["90s", 90_000],
    ["30m", 1_800_000],
    ["24h", 86_400_000],
    ["7d", 604_800_000],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text, "--grace")).toBe(ms);
  });

  it.each(["", "24", "-1h", "1.5h", "1w", "h", "99999999d"])("refuses %j", (text) => {
    expect(() => parseDuration(text, "--grace")).toThrow(/--grace ".*" is not a duration/);
  });

  it("formats in the largest whole unit", () => {
    expect(formatDuration(86_400_000)).toBe("1d");
    expect(formatDuration(3_600_000)).toBe("1h");
    expect(formatDuration(90_000)).toBe("90s");
    expect(formatDuration(0)).toBe("0s");
  });
});
