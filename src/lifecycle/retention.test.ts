import { describe, expect, it } from "vitest";
import { parseRetention } from "../config/retention.js";
import { planRetention, statisticsSince, type RetentionRule, type TagFacts } from "./retention.js";

const DAY = 86_400_000;
const now = new Date("2026-11-30T12:00:00Z");
const ago = (days: number) => new Date(now.getTime() - days * DAY);
const rule = (more: Partial<RetentionRule>): RetentionRule => ({
  name: "r",
  repositories: ["acme/*"],
  tags: ["*"],
  keepTags: [],
  ...more,
});
const facts = (...list: [string, number, string?][]): TagFacts[] =>
  list.map(([tag, days, lastPulled]) => ({
    tag,
    digest: `sha256:${tag
      .replace(/[^0-9a-f]/g, "")
      .padEnd(64, "0")
      .slice(0, 64)}`,
    since: ago(days),
    ...(lastPulled === undefined ? {} : { lastPulled }),
  }));
const deleted = (decisions: { tag: string; delete: boolean }[]) =>
  decisions
    .filter((d) => d.delete)
    .map((d) => d.tag)
    .sort();

describe("retention rules", () => {
  it("parses [retention.<isv>.<rule>] sections and reports every problem", () => {
    const problems: string[] = [];
    const rules = parseRetention(
      {
        "retention.acme.nightly": {
          repositories: "acme/app, acme/tools/*",
          tags: "nightly-*",
          keep_last: "5",
          keep_younger: "14d",
        },
        "retention.acme.releases": {
          repositories: "acme/*",
          keep_tags: "v*, latest",
          keep_pulled_within: "90d",
        },
        "retention.acme.nothing": { repositories: "acme/*" },
        "retention.acme.bad": { keep_last: "-1", keep_younger: "soon", colour: "blue" },
        "retention.Acme.x": { repositories: "*" },
        "retention.acme.long": { repositories: "x".repeat(300), keep_last: "1" },
        acme: { storage: "local" },
      },
      problems,
    );
    expect(rules.acme?.[0]).toEqual({
      name: "nightly",
      repositories: ["acme/app", "acme/tools/*"],
      tags: ["nightly-*"],
      keepTags: [],
      keepLast: 5,
      keepYoungerMs: 14 * DAY,
    });
    expect(rules.acme?.[1]).toMatchObject({
      keepTags: ["v*", "latest"],
      keepPulledWithinMs: 90 * DAY,
      tags: ["*"],
    });
    expect(problems.join("\n")).toContain("[retention.acme.nothing] keep_* missing");
    for (const part of [
      "[retention.acme.bad] colour is not a known key",
      "[retention.acme.bad] repositories is required",
      "[retention.acme.bad] keep_last must be a whole number",
      '[retention.acme.bad] keep_younger must be a duration like 30d, 12h or 90m, not "soon"',
      "[retention.Acme.x]: a retention rule section is [retention.<isv>.<rule>]",
      "[retention.acme.long] repositories pattern",
    ]) {
      expect(problems.join("\n")).toContain(part);
    }
  });

  it("keeps the newest N, pattern matches, young tags and tags pulled lately; deletes the rest with a reason", () => {
    const tags = facts(
      ["1.0", 100],
      ["2.0", 50, "2026-11-01"],
      ["3.0", 40],
      ["4.0", 3],
      ["latest", 1],
      ["5.0", 20],
    );
    const rules = [
      rule({ name: "newest", keepLast: 2 }),
      rule({ name: "named", keepTags: ["latest", "1.*"] }),
      rule({ name: "recent", tags: ["*.0"], keepYoungerMs: 7 * DAY, keepPulledWithinMs: 60 * DAY }),
    ];
    const decisions = planRetention("acme/app", tags, rules, now);
    expect(deleted(decisions)).toEqual(["3.0", "5.0"]);
    const why = Object.fromEntries(decisions.map((d) => [d.tag, d.reasons.join("; ")]));
    expect(why["1.0"]).toBe("kept by named: matches 1.*");
    expect(why["2.0"]).toBe("kept by recent: pulled within 60d");
    expect(why["4.0"]).toContain("kept by newest: among the newest 2");
    expect(why["4.0"]).toContain("kept by recent: younger than 7d");
    expect(why["latest"]).toContain("kept by newest: among the newest 2");
    expect(why["3.0"]).toBe("no rule keeps it (newest, named, recent apply)");
  });

  it("touches no repository no rule names and no tag no rule applies to; a tag without a date is new", () => {
    const rules = [rule({ repositories: ["acme/app"], tags: ["nightly-*"], keepLast: 1 })];
    expect(planRetention("other/app", facts(["nightly-1", 10]), rules, now)).toEqual([]);
    const decisions = planRetention(
      "acme/app",
      [...facts(["nightly-1", 10], ["nightly-2", 5], ["1.0", 99])],
      rules,
      now,
    );
    expect(decisions.map((d) => d.tag)).toEqual(["nightly-1", "nightly-2"]);
    expect(deleted(decisions)).toEqual(["nightly-1"]);
    // A tag pushed while retention ran has no date yet: it counts as the newest and is kept.
    const racing = planRetention(
      "acme/app",
      [
        ...facts(["nightly-1", 10], ["nightly-2", 5]),
        { tag: "nightly-3", digest: `sha256:${"3".repeat(64)}` },
      ],
      rules,
      now,
    );
    expect(deleted(racing)).toEqual(["nightly-1", "nightly-2"]);
  });

  it("matches a hostile pattern against long names without backtracking blow-up", () => {
    const hostile = `${"*a".repeat(60)}b`;
    const long = "a".repeat(128);
    const rules = [rule({ repositories: ["*"], tags: [hostile], keepLast: 0, keepTags: [hostile] })];
    const decisions = planRetention("acme/app", facts([long, 5]), rules, now);
    expect(decisions).toEqual([]); // the pattern does not match: the rule does not apply
  });

  it("reads statistics only as far back as the longest keep_pulled_within", () => {
    expect(statisticsSince([rule({ keepLast: 1 })], now)).toBeUndefined();
    expect(
      statisticsSince([rule({ keepPulledWithinMs: 30 * DAY }), rule({ keepPulledWithinMs: 2 * DAY })], now),
    ).toBe("2026-10-30");
  });
});
