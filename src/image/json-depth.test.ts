import { describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH, jsonDepth, tooDeep } from "./json-depth.js";

describe("jsonDepth", () => {
  it("counts brackets and braces outside strings only", () => {
    expect(jsonDepth("{}")).toBe(1);
    expect(jsonDepth('{"a":[{"b":[]}]}')).toBe(4);
    expect(jsonDepth('{"a":"[[[[{{{{\\"[[["}')).toBe(1);
    expect(jsonDepth('"\\\\"[')).toBe(1);
    expect(jsonDepth("42")).toBe(0);
  });

  it("refuses 20,000 levels in linear time without recursion", () => {
    const deep = "[".repeat(20_000) + "]".repeat(20_000);
    expect(jsonDepth(deep)).toBe(MAX_JSON_DEPTH + 1);
    expect(tooDeep(Buffer.from(deep))).toMatch(/more than 64 levels/);
    const deepInString = JSON.stringify({ a: "[".repeat(20_000) });
    expect(tooDeep(deepInString)).toBeUndefined();
  });
});
