/**
 * Retention rules in raas.cfg (applied by src/lifecycle/retention.ts), one section per rule:
 *
 *   [retention.<isv>.<rule>]
 *   repositories = acme/*          globs over repository names (required)
 *   tags = *                       the tags the rule applies to (default: every tag)
 *   keep_last = 10                 keep the newest N of those tags per repository
 *   keep_tags = latest, v*         keep tags matching these globs
 *   keep_younger = 30d             keep tags pointed at their manifest within this period
 *   keep_pulled_within = 90d       keep tags pulled within this period (pull statistics)
 *
 * A tag is deleted only when at least one rule applies to it and no rule that applies keeps
 * it; tags no rule applies to, and repositories no rule names, are never touched. A rule needs
 * at least one keep_* key (a rule that keeps nothing would delete every tag it names).
 * Patterns are matched by globMatch (src/sync/rules.ts): `*` and `?` only, in time linear in
 * pattern times value length, whatever the pattern.
 */
import { isIsvName } from "../image/names.js";
import { reservedIsvName } from "./environments.js";
import { globMatch } from "../sync/rules.js";

export interface RetentionRule {
  /** `<rule>` of `[retention.<isv>.<rule>]`. */
  name: string;
  repositories: string[];
  tags: string[];
  keepLast?: number;
  keepTags: string[];
  keepYoungerMs?: number;
  keepPulledWithinMs?: number;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90m`, `12h`, `30d` -> milliseconds; undefined when not a duration. */
function toMs(text: string): number | undefined {
  const m = /^(\d{1,7})([smhd])$/.exec(text.trim());
  return m === null ? undefined : Number(m[1]) * (UNITS[m[2] ?? "s"] ?? 1000);
}

export const RETENTION_SECTION = /^retention\.([a-z0-9]{1,16})\.([a-z0-9][a-z0-9-]{0,31})$/;
const KEYS = new Set([
  "repositories",
  "tags",
  "keep_last",
  "keep_tags",
  "keep_younger",
  "keep_pulled_within",
]);
/** Patterns per key at most (each up to the glob limit of src/sync/rules.ts). */
const MAX_PATTERNS = 64;

const list = (text: string | undefined) =>
  (text ?? "")
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== "");

/**
 * Parse every `[retention.<isv>.<rule>]` section: rules per ISV. Problems are added to
 * `problems` as `[section] key: what is wrong`.
 */
export function parseRetention(
  sections: Record<string, Record<string, string> | undefined>,
  problems: string[],
): Record<string, RetentionRule[]> {
  const out: Record<string, RetentionRule[]> = {};
  for (const [section, body = {}] of Object.entries(sections)) {
    if (!section.startsWith("retention.")) continue;
    const m = RETENTION_SECTION.exec(section);
    const isv = m?.[1];
    const name = m?.[2];
    if (isv === undefined || name === undefined || !isIsvName(isv)) {
      problems.push(
        `[${section}]: a retention rule section is [retention.<isv>.<rule>] (rule: 1-32 lower-case letters, digits or dashes)`,
      );
      continue;
    }
    const reserved = reservedIsvName(isv);
    if (reserved !== undefined) {
      problems.push(`[${section}]: ${reserved}`);
      continue;
    }
    const bad = (key: string, what: string) => problems.push(`[${section}] ${key} ${what}`);
    for (const key of Object.keys(body)) if (!KEYS.has(key)) bad(key, "is not a known key");
    const globs = (key: string, fallback: string[]) => {
      const values = body[key] === undefined ? fallback : list(body[key]);
      if (values.length > MAX_PATTERNS) bad(key, `has more than ${MAX_PATTERNS} patterns`);
      for (const v of values) {
        try {
          globMatch(v, "");
        } catch (error) {
          bad(key, (error as Error).message);
        }
      }
      return values.slice(0, MAX_PATTERNS);
    };
    const duration = (key: string) => {
      const text = body[key];
      if (text === undefined) return undefined;
      const ms = toMs(text);
      if (ms === undefined) bad(key, `must be a duration like 30d, 12h or 90m, not "${text.slice(0, 40)}"`);
      return ms;
    };
    const rule: RetentionRule = {
      name,
      repositories: globs("repositories", []),
      tags: globs("tags", ["*"]),
      keepTags: globs("keep_tags", []),
    };
    if (rule.repositories.length === 0) bad("repositories", "is required (globs over repository names)");
    if (body.keep_last !== undefined) {
      const n = Number(body.keep_last.trim());
      if (!Number.isInteger(n) || n < 0 || n > 1_000_000) {
        bad("keep_last", "must be a whole number 0..1000000");
      } else rule.keepLast = n;
    }
    const younger = duration("keep_younger");
    if (younger !== undefined) rule.keepYoungerMs = younger;
    const pulled = duration("keep_pulled_within");
    if (pulled !== undefined) rule.keepPulledWithinMs = pulled;
    if (
      rule.keepLast === undefined &&
      rule.keepTags.length === 0 &&
      rule.keepYoungerMs === undefined &&
      rule.keepPulledWithinMs === undefined
    ) {
      bad(
        "keep_*",
        "missing: a rule needs keep_last, keep_tags, keep_younger or keep_pulled_within (otherwise it deletes every tag it names)",
      );
    }
    (out[isv] ??= []).push(rule);
  }
  return out;
}
