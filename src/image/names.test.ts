import { describe, expect, it } from "vitest";
import { isRepositoryName, metadataFileName } from "./names.js";

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
