/**
 * Retention rules: which tags `raas gc --retention` deletes. Pure: rules and facts about tags
 * in, a decision per tag (with its reasons) out. Configured in raas.cfg, one section per rule:
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
import { globMatch } from "../sync/rules.js";
import { formatDuration, parseDuration } from "./duration.js";

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

/** What is known about one tag of a repository. */
export interface TagFacts {
  tag: string;
  digest: string;
  /** When the tag was pointed at its manifest (its tag object's date); undefined: just now. */
  since?: Date;
  /** The last UTC day (YYYY-MM-DD) the tag was pulled, when the statistics know one. */
  lastPulled?: string;
}

export interface RetentionDecision {
  repository: string;
  tag: string;
  digest: string;
  delete: boolean;
  /** Why: every rule that keeps it, or every rule that applies and keeps nothing. */
  reasons: string[];
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
      try {
        return parseDuration(text, `${key}`);
      } catch {
        bad(key, `must be a duration like 30d, 12h or 90m, not "${text.slice(0, 40)}"`);
        return undefined;
      }
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

const matchesAny = (globs: readonly string[], value: string) => globs.some((g) => globMatch(g, value));

/** The rules that name `repository`. */
export function rulesFor(rules: readonly RetentionRule[], repository: string): RetentionRule[] {
  return rules.filter((r) => matchesAny(r.repositories, repository));
}

const DAY = 86_400_000;

/** The decision for every tag of `repository` that at least one rule applies to (sorted by tag). */
export function planRetention(
  repository: string,
  tags: readonly TagFacts[],
  rules: readonly RetentionRule[],
  now: Date,
): RetentionDecision[] {
  const applicable = rulesFor(rules, repository);
  const decisions = new Map<string, RetentionDecision & { kept: boolean; dropped: string[] }>();
  const time = (t: TagFacts) => (t.since ?? now).getTime();
  for (const rule of applicable) {
    const covered = tags.filter((t) => matchesAny(rule.tags, t.tag));
    // Newest first; ties (one push, several tags) by name, highest first.
    const newest = [...covered].sort(
      (a, b) => time(b) - time(a) || (a.tag < b.tag ? 1 : a.tag > b.tag ? -1 : 0),
    );
    const rank = new Map(newest.map((t, i) => [t.tag, i]));
    for (const t of covered) {
      const d = decisions.get(t.tag) ?? {
        repository,
        tag: t.tag,
        digest: t.digest,
        delete: false,
        reasons: [],
        kept: false,
        dropped: [],
      };
      decisions.set(t.tag, d);
      const keeps: string[] = [];
      if (rule.keepLast !== undefined && (rank.get(t.tag) ?? 0) < rule.keepLast) {
        keeps.push(`among the newest ${rule.keepLast}`);
      }
      const pattern = rule.keepTags.find((g) => globMatch(g, t.tag));
      if (pattern !== undefined) keeps.push(`matches ${pattern}`);
      if (rule.keepYoungerMs !== undefined && now.getTime() - time(t) < rule.keepYoungerMs) {
        keeps.push(`younger than ${formatDuration(rule.keepYoungerMs)}`);
      }
      if (rule.keepPulledWithinMs !== undefined && t.lastPulled !== undefined) {
        const since = new Date(now.getTime() - rule.keepPulledWithinMs).toISOString().slice(0, 10);
        if (t.lastPulled >= since) keeps.push(`pulled within ${formatDuration(rule.keepPulledWithinMs)}`);
      }
      if (keeps.length > 0) {
        d.kept = true;
        d.reasons.push(`kept by ${rule.name}: ${keeps.join(", ")}`);
      } else d.dropped.push(rule.name);
    }
  }
  return [...decisions.values()]
    .map(({ kept, dropped, ...d }) => ({
      ...d,
      delete: !kept,
      reasons: kept
        ? d.reasons
        : [`no rule keeps it (${dropped.join(", ")} ${dropped.length > 1 ? "apply" : "applies"})`],
    }))
    .sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
}

/** The earliest statistics day any rule needs (YYYY-MM-DD), or undefined when none reads them. */
export function statisticsSince(rules: readonly RetentionRule[], now: Date): string | undefined {
  const longest = Math.max(-1, ...rules.map((r) => r.keepPulledWithinMs ?? -1));
  if (longest < 0) return undefined;
  return new Date(now.getTime() - longest - DAY).toISOString().slice(0, 10);
}
