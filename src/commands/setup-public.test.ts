import { describe, expect, it } from "vitest";
import { keysToCheck } from "./setup-public.js";

const keys = (n: number) => Array.from({ length: n }, (_, i) => `k${String(i).padStart(6, "0")}`);

describe("which objects setup asks for anonymously", () => {
  it("asks for every object of a store of up to 2,000", () => {
    expect(keysToCheck(keys(3))).toEqual(keys(3));
    expect(keysToCheck(keys(2_000))).toEqual(keys(2_000));
  });

  it("asks for 2,000 distinct objects spread over a larger listing, from the first to near the last", () => {
    const all = keys(5_001);
    const asked = keysToCheck(all);
    expect(asked).toHaveLength(2_000);
    expect(new Set(asked).size).toBe(2_000);
    expect(asked[0]).toBe(all[0]);
    // No gap between neighbours wider than the spread (5,001 / 2,000, rounded up).
    const positions = asked.map((k) => all.indexOf(k));
    const widest = Math.max(...positions.slice(1).map((p, i) => p - (positions[i] as number)));
    expect(widest).toBeLessThanOrEqual(3);
    expect(all.length - 1 - (positions.at(-1) as number)).toBeLessThanOrEqual(3);
  });
});
