import { describe, expect, it } from "vitest";
import { errorMessage } from "./errors.js";

describe("errorMessage", () => {
  it("gives an error's message, or the value as text", () => {
    expect(errorMessage(new Error("disk full"))).toBe("disk full");
    expect(errorMessage("plain")).toBe("plain");
    expect(errorMessage(42)).toBe("42");
  });

  it("names the attempts of an error with no message of its own (a connect to every address of a name)", () => {
    const refused = (address: string) =>
      Object.assign(new Error(`connect ECONNREFUSED ${address}:8080`), { code: "ECONNREFUSED" });
    const all = new AggregateError([refused("::1"), refused("127.0.0.1"), refused("::1")]);
    expect(all.message).toBe("");
    expect(errorMessage(all)).toBe("connect ECONNREFUSED ::1:8080; connect ECONNREFUSED 127.0.0.1:8080");
    // Nothing inside either: the code, else the error's name; never an empty string.
    expect(errorMessage(Object.assign(new AggregateError([]), { code: "ECONNREFUSED" }))).toBe(
      "ECONNREFUSED",
    );
    expect(errorMessage(new AggregateError([]))).toBe("AggregateError");
    expect(errorMessage(new TypeError(""))).toBe("TypeError");
  });
});
