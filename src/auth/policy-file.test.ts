import { describe, expect, it } from "vitest";
import { InputError } from "../errors.js";
import { compileGlob, globMatches } from "./glob.js";
import {
  hashPassword,
  hashServiceToken,
  isPasswordHash,
  newServiceToken,
  verifyPassword,
  verifyServiceToken,
} from "./passwords.js";
import { parsePolicy, serializePolicy } from "./policy-file.js";
import { fixtureText, TEST_SCRYPT } from "./testing/policy-fixture.js";

function problemsOf(text: string): string {
  try {
    parsePolicy(text, "access.yaml");
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error("expected the policy to be rejected");
}

describe("policy file", () => {
  it("round-trips through serializePolicy", async () => {
    const policy = parsePolicy(await fixtureText());
    const again = parsePolicy(serializePolicy(policy));
    expect(serializePolicy(again)).toBe(serializePolicy(policy));
    expect([...again.users.keys()].sort()).toEqual(["alice", "bob", "carol", "dave", "erin", "rel"]);
    expect(again.tags.map((t) => t.tag.source)).toEqual(["v*", "latest", "prod-*"]);
  });

  it("rejects unknown keys at every level, all at once", () => {
    const message = problemsOf(
      "version: 1\nextra: 1\nregistry: { mode: restricted, open: true }\nusers:\n  alice: { privileges: [puller], admin: true }\n",
    );
    expect(message).toContain("access.yaml");
    expect(message).toMatch(/extra/);
    expect(message).toMatch(/open/);
    expect(message).toMatch(/admin/);
  });

  it("rejects __proto__ and other non-names as keys instead of dropping them", () => {
    const message = problemsOf("version: 1\nusers:\n  __proto__: { privileges: [manager] }\n  Alice: {}\n");
    expect(message).toContain('"__proto__" is not a valid name');
    expect(message).toContain('"Alice" is not a valid name');
    const json = problemsOf('{"version": 1, "groups": {"__proto__": {"members": []}}}');
    expect(json).toContain("__proto__");
  });

  it("a user called constructor or hasownproperty is just a name", () => {
    const policy = parsePolicy("version: 1\nusers:\n  constructor: {}\n  hasownproperty: {}\n");
    expect(policy.users.get("constructor")?.name).toBe("constructor");
    expect(policy.users.has("tostring")).toBe(false);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it("checks references and that an id never shadows another user's name", () => {
    const message = problemsOf(`version: 1
users:
  alice: { id: bob }
  bob: {}
groups:
  devs: { members: [alice, ghost] }
apps:
  a: { responsibleGroups: [nope] }
services:
  alice: { app: missing, token: "${hashServiceToken("x")}" }
tags:
  - { repository: "apps/**", tag: "v*", push: [stranger] }
`);
    expect(message).toContain('"bob" names both "alice" and "bob"');
    expect(message).toContain('unknown member "ghost"');
    expect(message).toContain('unknown group "nope"');
    expect(message).toContain('unknown app "missing"');
    expect(message).toContain('"alice" is also a user name');
    expect(message).toContain('"stranger" is neither a user nor a group');
  });

  it("rejects bad hashes, privileges, patterns, versions and non-YAML", () => {
    expect(problemsOf("version: 2\n")).toMatch(/version/);
    expect(problemsOf("version: 1\nusers:\n  a: { password: plaintext }\n")).toContain("$scrypt$");
    expect(problemsOf("version: 1\nusers:\n  a: { privileges: [root] }\n")).toMatch(/privileges/);
    expect(problemsOf('version: 1\nregistry: { anonymousPull: ["a/(.*)"] }\n')).toContain(
      "not a valid pattern",
    );
    expect(problemsOf("version: 1\nservices:\n  s: { app: a, token: plain }\n")).toContain("sha256");
    expect(problemsOf("version: [1\n")).toContain("not valid YAML");
    expect(problemsOf("version: 1\nversion: 1\n")).toContain("not valid YAML");
    expect(problemsOf("- 1\n")).toContain("access.yaml");
    expect(problemsOf("x".repeat(5 * 1024 * 1024))).toContain("larger than");
  });

  it("bounds YAML alias expansion", () => {
    const bomb = ["version: 1", "a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 8; i++) {
      bomb.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
          .fill("*" + String.fromCharCode(97 + i))
          .join(", ")}]`,
      );
    }
    expect(problemsOf(bomb.join("\n") + "\n")).toContain("access.yaml");
  });
});

describe("globs", () => {
  const m = (p: string, n: string) => globMatches(compileGlob(p)!, n);
  it("anchors, keeps * inside one component and lets ** cross components", () => {
    expect(m("apps/*", "apps/a")).toBe(true);
    expect(m("apps/*", "apps/a/b")).toBe(false);
    expect(m("apps/**", "apps/a/b")).toBe(true);
    expect(m("apps/**", "apps")).toBe(true);
    expect(m("apps/**", "appsx")).toBe(false);
    expect(m("apps", "apps/a")).toBe(false);
    expect(m("v?", "v1")).toBe(true);
    expect(m("v?", "v12")).toBe(false);
    expect(m("a.b", "axb")).toBe(false);
  });
  it("refuses regex syntax and stays fast on hostile patterns", () => {
    expect(compileGlob("a/(.*)")).toBeUndefined();
    expect(compileGlob("")).toBeUndefined();
    expect(compileGlob("a".repeat(300))).toBeUndefined();
    const hostile = compileGlob("*a".repeat(100) + "b")!;
    expect(globMatches(hostile, "a".repeat(255))).toBe(false);
  });
});

describe("passwords and service tokens", () => {
  it("hashes with scrypt and verifies only the right password", async () => {
    const stored = await hashPassword("correct horse", TEST_SCRYPT);
    expect(stored).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$/);
    expect(isPasswordHash(stored)).toBe(true);
    expect(await verifyPassword("correct horse", stored)).toBe(true);
    expect(await verifyPassword("correct horsf", stored)).toBe(false);
    expect(await verifyPassword("", stored)).toBe(false);
    expect(await hashPassword("correct horse", TEST_SCRYPT)).not.toBe(stored);
  });
  it("an unknown user still costs a hash and never verifies", async () => {
    expect(await verifyPassword("anything", undefined)).toBe(false);
  });
  it("refuses out-of-bounds stored parameters instead of computing them", async () => {
    const stored = await hashPassword("pw", TEST_SCRYPT);
    const huge = stored.replace("ln=10", "ln=30");
    expect(isPasswordHash(huge)).toBe(false);
    expect(await verifyPassword("pw", huge)).toBe(false);
  });
  it("service tokens are long, random, stored hashed and compared exactly", () => {
    const a = newServiceToken();
    const b = newServiceToken();
    expect(a.token).not.toBe(b.token);
    expect(a.token.length).toBeGreaterThanOrEqual(48);
    expect(a.hash).not.toContain(a.token);
    expect(verifyServiceToken(a.token, a.hash)).toBe(true);
    expect(verifyServiceToken(b.token, a.hash)).toBe(false);
    expect(verifyServiceToken(a.token, undefined)).toBe(false);
  });
});
