/**
 * Retention: which tags `raas gc --retention` deletes. Pure: the rules of raas.cfg
 * (src/config/retention.ts, docs/gc.md) and facts about tags in, a decision per tag (with its
 * reasons) out. A tag is deleted only when at least one rule applies to it and no rule that
 * applies keeps it.
 */
import type { RetentionRule } from "../config/retention.js";
import { globMatch } from "../sync/rules.js";
import { formatDuration } from "./duration.js";

export type { RetentionRule } from "../config/retention.js";

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
