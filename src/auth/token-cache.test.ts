import { describe, expect, it } from "vitest";
import type { VerifiedToken } from "./jwt.js";
import { TokenCache, tokenKey } from "./token-cache.js";

const token = (subject: string, names: string[], expiresAt = 2000): VerifiedToken => ({
  kind: "user",
  subject,
  access: names.map((name) => ({ type: "repository", name, actions: ["pull"] })),
  expiresAt,
  notBefore: 1000,
  claims: { padding: "x".repeat(100_000) },
});

describe("TokenCache", () => {
  it("keys by a fixed-length digest and keeps neither the token nor its payload", () => {
    const long = "a".repeat(60_000);
    expect(tokenKey(long)).toHaveLength(44);
    expect(tokenKey(long)).not.toBe(tokenKey(`${long}b`));
    const cache = new TokenCache();
    cache.set(tokenKey(long), token("alice", ["a/b"]));
    const hit = cache.get(tokenKey(long), 1500);
    expect(hit).toMatchObject({ subject: "alice", access: [{ name: "a/b" }] });
    expect(hit).not.toHaveProperty("claims");
    expect(cache.bytes).toBeLessThan(1024);
  });

  it("evicts the oldest to stay within its bytes and entries; never keeps one token past an eighth", () => {
    const cache = new TokenCache({ maxBytes: 64 * 1024, maxEntries: 1000 });
    const names = Array.from({ length: 20 }, (_, i) => `apps/${"n".repeat(100)}/${i}`);
    for (let i = 0; i < 500; i++) {
      cache.set(tokenKey(`t${i}`), token(`user${i}`, names));
      expect(cache.bytes).toBeLessThanOrEqual(64 * 1024);
    }
    expect(cache.get(tokenKey("t0"), 1500)).toBeUndefined();
    expect(cache.get(tokenKey("t499"), 1500)).toBeDefined();
    const huge = Array.from({ length: 200 }, (_, i) => `apps/${"n".repeat(100)}/${i}`);
    cache.set(tokenKey("huge"), token("h", huge));
    expect(cache.get(tokenKey("huge"), 1500)).toBeUndefined();
    expect(cache.get(tokenKey("t499"), 1500)).toBeDefined();

    const few = new TokenCache({ maxEntries: 3 });
    for (const k of ["a", "b", "c", "d"]) few.set(k, token(k, []));
    expect(few.size).toBe(3);
    expect(few.get("a", 1500)).toBeUndefined();
  });

  it("answers nothing before notBefore or from expiry on, and forgets the expired entry", () => {
    const cache = new TokenCache();
    cache.set("k", token("alice", ["a/b"]));
    expect(cache.get("k", 999)).toBeUndefined();
    expect(cache.get("k", 1999)).toBeDefined();
    const before = cache.bytes;
    expect(cache.get("k", 2000)).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBeLessThan(before);
    expect(cache.bytes).toBe(0);
  });
});
