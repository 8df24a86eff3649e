import { describe, expect, it } from "vitest";
import { RecordingReporter } from "./reporter.js";
import { SafeReporter, escapeControl, quoted } from "./safe-text.js";

describe("escapeControl", () => {
  it("shows control characters, DEL, C1 and bidi overrides, keeping newlines and tabs", () => {
    expect(escapeControl("a\x1b]0;owned\x07b\x1b[2J")).toBe("a\\x1b]0;owned\\x07b\\x1b[2J");
    expect(escapeControl("x\ry\x7f\x9b\u202e")).toBe("x\\x0dy\\x7f\\x9b\\u202e");
    expect(escapeControl("line 1\n\tline 2 é ✔")).toBe("line 1\n\tline 2 é ✔");
  });

  it("escapes every message and step text a reporter prints", () => {
    const inner = new RecordingReporter();
    const reporter = new SafeReporter(inner);
    reporter.warn("member \x1b[2J");
    const step = reporter.step("reading \x07");
    step.fail("failed \x1b]0;t\x07");
    expect(inner.lines.join("\n")).not.toContain("\x1b");
    expect(inner.lines.join("\n")).not.toContain("\x07");
    expect(inner.lines).toContain("warn: member \\x1b[2J");
  });
});

describe("quoted", () => {
  it("quotes, escapes and cuts a value at whole code points, saying its length", () => {
    expect(quoted("a\x1bb\u202e")).toBe('"a\\u001bb\\u202e"');
    expect(quoted("x".repeat(10), 4)).toBe('"xxxx"… (10 characters)');
    // A cut never leaves half of a surrogate pair.
    expect(quoted("\u{1F600}".repeat(5), 2)).toBe('"\u{1F600}\u{1F600}"… (10 characters)');
  });
});
