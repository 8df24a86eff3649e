import { describe, expect, it } from "vitest";
import { verdict, type Check } from "./checks.js";

const check = (status: Check["status"]): Check => ({ name: status, status, detail: "" });

describe("verdict", () => {
  it("says every check passed only when every check is ok", () => {
    expect(verdict([check("ok"), check("ok")])).toBe("All checks passed");
  });

  it("counts warnings and skipped checks instead of passing over them", () => {
    expect(verdict([check("ok"), check("warn"), check("warn")])).toBe("No failures, 2 warning(s)");
    expect(verdict([check("ok"), check("skip")])).toBe("No failures, 1 skipped");
    expect(verdict([check("fail"), check("warn")])).toBe("1 check(s) failed, 1 warning(s)");
  });
});
