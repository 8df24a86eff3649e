import { describe, expect, it } from "vitest";
import {
  DEFAULT_TAG_RULES,
  decideTag,
  globMatch,
  mapName,
  parseRenames,
  planTags,
  type TagRules,
} from "./rules.js";

describe("original names", () => {
  it("strips a contextual prefix and restores the slash", () => {
    expect(
      mapName("examplecorp-docker_io-thomasmckay_hammer", { stripPrefix: "examplecorp-*-", slash: "_" }),
    ).toBe("thomasmckay/hammer");
  });
  it("keeps the name without a rule and uses an explicit name over everything", () => {
    expect(mapName("acme/app", {})).toBe("acme/app");
    expect(mapName("x", { name: "acme/other", stripPrefix: "zz-" })).toBe("acme/other");
  });
  it("refuses a name the prefix does not fit and a result outside the grammar", () => {
    expect(() => mapName("other-thing", { stripPrefix: "examplecorp-*-" })).toThrow(/does not start with/);
    expect(() => mapName("examplecorp-docker_io-", { stripPrefix: "examplecorp-*-" })).toThrow(
      /not a valid repository name/,
    );
    expect(() => mapName("a", { name: "../etc" })).toThrow(/not a valid repository name/);
  });
});

describe("tag rules", () => {
  const rules: TagRules = {
    ...DEFAULT_TAG_RULES,
    include: ["1*", "13-test", "latest"],
    exclude: ["*-rc*"],
    rename: { "13-test": "latest-test" },
  };
  const none = () => false;
  it("includes, excludes and renames", () => {
    expect(decideTag("1.0", rules, none)).toEqual({ action: "publish", tag: "1.0", as: "1.0" });
    expect(decideTag("1.1-rc1", rules, none)).toMatchObject({ action: "skip", reason: "excluded by *-rc*" });
    expect(decideTag("2.0", rules, none)).toMatchObject({ action: "skip", reason: "not included" });
    expect(decideTag("13-test", rules, none)).toEqual({
      action: "publish",
      tag: "13-test",
      as: "latest-test",
    });
  });
  it("holds new tags under manual publication but keeps published ones current", () => {
    const manual: TagRules = { ...rules, newTags: "manual", approve: ["1.2"] };
    expect(decideTag("1.0", manual, none)).toMatchObject({ action: "skip", reason: /manual/ });
    expect(decideTag("1.0", manual, (t) => t === "1.0")).toMatchObject({ action: "publish" });
    expect(decideTag("1.2", manual, none)).toMatchObject({ action: "publish", as: "1.2" });
  });
  it("refuses two tags renamed onto one", () => {
    const clash: TagRules = { ...DEFAULT_TAG_RULES, rename: { a: "b" } };
    expect(() => planTags(["a", "b"], clash, none)).toThrow(/both be published as b/);
  });
  it("globs are anchored, literal apart from * and ?, and linear on hostile patterns", () => {
    expect(globMatch("1.?", "1.0")).toBe(true);
    expect(globMatch("1.?", "100")).toBe(false);
    expect(globMatch("v1", "v10")).toBe(false);
    expect(globMatch("*a*a*a*a*a*a*a*a*a*a*b", "a".repeat(128))).toBe(false);
    expect(globMatch("*a*a*b", "xxaxxaxxb")).toBe(true);
    expect(() => globMatch("x".repeat(300), "x")).toThrow(/1 to 256/);
  });
  it("parses renames from flags", () => {
    expect(parseRenames(["13-test=latest-test"])).toEqual({ "13-test": "latest-test" });
    expect(() => parseRenames(["nope"])).toThrow(/must be <tag>=<new tag>/);
  });
  it("treats tags named like object keys as tags, in renames and in decisions", () => {
    const keyed = parseRenames(["__proto__=proto", "constructor=ctor"]);
    expect(Object.keys(keyed).sort()).toEqual(["__proto__", "constructor"]);
    const all = { ...DEFAULT_TAG_RULES, include: ["*"], rename: keyed };
    expect(decideTag("__proto__", all, none)).toEqual({ action: "publish", tag: "__proto__", as: "proto" });
    expect(decideTag("constructor", all, none)).toEqual({
      action: "publish",
      tag: "constructor",
      as: "ctor",
    });
    const plain = { ...DEFAULT_TAG_RULES, include: ["*"] };
    expect(decideTag("toString", plain, none)).toEqual({
      action: "publish",
      tag: "toString",
      as: "toString",
    });
    expect(decideTag("hasOwnProperty", plain, none)).toMatchObject({ as: "hasOwnProperty" });
  });
});
