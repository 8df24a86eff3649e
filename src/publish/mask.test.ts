import { describe, expect, it } from "vitest";
import { sha256Digest } from "../image/digest.js";
import type { Blob } from "../image/model.js";
import { MaskSet } from "./mask.js";

const digest = sha256Digest("layer");
const layer: Blob = {
  digest,
  size: 5,
  mediaType: "application/vnd.docker.image.rootfs.diff.tar",
  open: () => {
    throw new Error("unused");
  },
  origin: "test",
  aliases: ["a1b2c3"],
};

describe("mask", () => {
  it("matches a layer by digest, bare hex or alias, case-insensitively", () => {
    expect(new MaskSet([digest]).match(layer)).toBe(digest);
    expect(new MaskSet([digest.slice(7).toUpperCase()]).match(layer)).toBe(digest.slice(7));
    expect(new MaskSet(["A1B2C3"]).match(layer)).toBe("a1b2c3");
    expect(new MaskSet(["other"]).match(layer)).toBeUndefined();
  });
});
