import { describe, expect, it } from "vitest";
import { GIB, MIB } from "./s3-client.js";
import { copyRanges } from "./s3-copy.js";
import { effectivePartSize } from "./s3-upload.js";

describe("S3 part planning", () => {
  it("grows the part size only when 10,000 parts would not hold a known size", () => {
    expect(effectivePartSize(16 * MIB, undefined)).toBe(16 * MIB);
    expect(effectivePartSize(16 * MIB, 100 * GIB)).toBe(16 * MIB);
    expect(effectivePartSize(16 * MIB, 500 * GIB)).toBe(Math.ceil((500 * GIB) / 10_000));
  });

  it("covers a large copy source with contiguous, inclusive ranges", () => {
    const size = 6 * GIB + 7;
    const ranges = copyRanges(size);
    expect(ranges).toHaveLength(7);
    expect(ranges[0]).toEqual({ first: 0, last: GIB - 1 });
    expect(ranges.at(-1)).toEqual({ first: 6 * GIB, last: size - 1 });
    for (let i = 1; i < ranges.length; i += 1) {
      expect(ranges[i]?.first).toBe((ranges[i - 1]?.last ?? 0) + 1);
    }
  });
});
