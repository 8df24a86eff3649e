/**
 * Which environments a tag is approved for, as each environment's app repository records it in
 * `environments.json`: per `<name>:<tag>`, the digest and the environments it passed through
 * (the first one it was pushed to, then every promotion), each with when it entered. A
 * promotion copies the source's record and adds the target, in the same commit as the metadata.
 */
import { isDigest, type Digest } from "../image/digest.js";
import { isRepositoryName, isTag } from "../image/names.js";

export const APPROVALS_FILE = "environments.json";

export interface ApprovalStep {
  name: string;
  /** When the tag entered the environment (ISO 8601). */
  since?: string;
  /** The environment it was promoted from. */
  from?: string;
}

export interface Approval {
  digest: Digest;
  environments: ApprovalStep[];
}

export type Approvals = Record<string, Approval>;

const MAX_STEPS = 64;

/** The record, keeping only well-formed entries (a hand edit cannot break promotion or the page). */
export function parseApprovals(text: string | undefined): Approvals {
  const out: Approvals = Object.create(null) as Approvals;
  if (text === undefined) return out;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return out;
  }
  const tags = (data as { tags?: unknown } | null)?.tags;
  if (tags === null || typeof tags !== "object" || Array.isArray(tags)) return out;
  for (const [ref, value] of Object.entries(tags as Record<string, unknown>)) {
    const colon = ref.lastIndexOf(":");
    if (colon < 0 || !isRepositoryName(ref.slice(0, colon)) || !isTag(ref.slice(colon + 1))) continue;
    const entry = value as { digest?: unknown; environments?: unknown } | null;
    if (entry === null || !isDigest(entry.digest) || !Array.isArray(entry.environments)) continue;
    const steps: ApprovalStep[] = [];
    for (const step of entry.environments.slice(0, MAX_STEPS) as unknown[]) {
      const s = step as { name?: unknown; since?: unknown; from?: unknown } | null;
      if (s === null || typeof s.name !== "string" || !/^[a-z][a-z0-9]{0,15}$/.test(s.name)) continue;
      steps.push({
        name: s.name,
        ...(typeof s.since === "string" && !Number.isNaN(Date.parse(s.since)) ? { since: s.since } : {}),
        ...(typeof s.from === "string" && /^[a-z][a-z0-9]{0,15}$/.test(s.from) ? { from: s.from } : {}),
      });
    }
    out[ref] = { digest: entry.digest, environments: steps };
  }
  return out;
}

export function serializeApprovals(approvals: Approvals): string {
  const sorted = Object.fromEntries(
    Object.entries(approvals).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  return `${JSON.stringify({ version: 1, tags: sorted }, null, 2)}\n`;
}

/**
 * The target's record after promoting `source` (the source environment's record of the tag, if
 * it matches the digest) into `target` as `ref`.
 */
export function promoted(
  approvals: Approvals,
  ref: string,
  digest: Digest,
  source: { env: string; record: Approval | undefined },
  target: { env: string; since: string },
): Approvals {
  const history =
    source.record !== undefined && source.record.digest === digest
      ? source.record.environments.filter((s) => s.name !== target.env)
      : [{ name: source.env }];
  if (!history.some((s) => s.name === source.env)) history.push({ name: source.env });
  const next: Approvals = { ...approvals };
  next[ref] = {
    digest,
    environments: [...history, { name: target.env, since: target.since, from: source.env }],
  };
  return next;
}

export function withdrawn(approvals: Approvals, ref: string): Approvals {
  const next: Approvals = { ...approvals };
  delete next[ref];
  return next;
}
