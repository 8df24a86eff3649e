import { describe, expect, it } from "vitest";
import { parseIni } from "./ini.js";

describe("parseIni dotted sections", () => {
  it("reads [a.b] as the section a.b, like ConfigParser, without inventing a section a", () => {
    const problems: string[] = [];
    const sections = parseIni("[events.collector]\nurl = http://x\nheader.X-A = b\n[raas]\nport = 1\n", (p) =>
      problems.push(p),
    );
    expect(sections).toEqual({
      "events.collector": { url: "http://x", "header.x-a": "b" },
      raas: { port: "1" },
    });
    expect(problems).toEqual([]);
  });
});
