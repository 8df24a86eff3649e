import { describe, expect, it } from "vitest";
import {
  isRepositoryName,
  metadataFileName,
  readReference,
  repositoryNameProblem,
  tagProblem,
} from "./names.js";

describe("metadataFileName", () => {
  it("keeps <isv>-<dashed name>.json when it fits a file name", () => {
    expect(metadataFileName("acme", "acme/bigdata-app")).toBe("acme-acme-bigdata-app.json");
  });

  it("cuts the stem of names near 255 characters and keeps them apart by a hash", () => {
    const a = `acme/${"a".repeat(250)}`;
    const b = `acme/${"a".repeat(249)}b`;
    expect(isRepositoryName(a) && isRepositoryName(b)).toBe(true);
    const fa = metadataFileName("longisvname12345", a);
    const fb = metadataFileName("longisvname12345", b);
    expect(Buffer.byteLength(fa)).toBeLessThanOrEqual(200);
    expect(fa).toMatch(/^longisvname12345-acme-a+-[0-9a-f]{16}\.json$/);
    expect(fa).not.toBe(fb);
    expect(metadataFileName("longisvname12345", a)).toBe(fa);
  });
});

describe("why a name or tag is not valid", () => {
  it("says what is wrong with each kind of bad name", () => {
    expect(repositoryNameProblem("acme/app")).toBeUndefined();
    expect(repositoryNameProblem("")).toBe("the repository name is empty");
    expect(repositoryNameProblem("a".repeat(300))).toMatch(/300 characters long, more than 255/);
    expect(repositoryNameProblem("Acme/app")).toMatch(/upper-case/);
    expect(repositoryNameProblem("acme/a\u202eb")).toMatch(/"\u202e" \(U\+202E\)/);
    expect(repositoryNameProblem("acme//app")).toMatch(/empty component/);
    expect(repositoryNameProblem("../../etc")).toMatch(/component "\.\."/);
    expect(repositoryNameProblem("__proto__")).toMatch(/component "__proto__"/);
  });

  it("says what is wrong with a tag, and which part of a reference is wrong", () => {
    expect(tagProblem("1.0")).toBeUndefined();
    expect(tagProblem("")).toBe("the tag is empty");
    expect(tagProblem("x".repeat(129))).toMatch(/129 characters long, more than 128/);
    expect(tagProblem("-x")).toMatch(/starts with "-"/);
    expect(tagProblem("a\u{1F600}")).toContain(`"\u{1F600}" (U+1F600)`);
    expect(readReference("docker.io/library/ubuntu:22.04")).toEqual({ name: "ubuntu", tag: "22.04" });
    expect(readReference("acme/app:bad tag")).toEqual({ problem: expect.stringMatching(/the tag has " "/) });
  });
});
