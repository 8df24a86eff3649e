import { UserError } from "../errors.js";
import { isRepositoryName } from "../image/names.js";
import { readPullStats, type PullStat } from "../stats/aggregate.js";
import type { BlobStore } from "../storage/types.js";
import type { CommandContext } from "./types.js";

export interface StatsOptions {
  isv: string;
  name?: string;
  /** YYYY-MM-DD (UTC day), inclusive. */
  since?: string;
}

export interface StatsResult {
  isv: string;
  repository?: string;
  since?: string;
  /** Pulls per tag over the whole period, most pulled first. */
  totals: { repository: string; tag: string; pulls: number }[];
  /** Pulls per repository, tag and UTC day. */
  days: PullStat[];
  pulls: number;
}

/** Pull statistics of an ISV's registry, read from its storage (docs/events.md). */
export async function stats(
  options: StatsOptions,
  _ctx: CommandContext,
  deps: { store: BlobStore },
): Promise<StatsResult> {
  if (options.name !== undefined && !isRepositoryName(options.name)) {
    throw new UserError(`raas stats: "${options.name.slice(0, 200)}" is not a repository name`, {
      hint: "Give the name as clients pull it, e.g. acme/app.",
    });
  }
  const since = options.since;
  if (since !== undefined && (!/^\d{4}-\d{2}-\d{2}$/.test(since) || Number.isNaN(Date.parse(since)))) {
    throw new UserError(`raas stats: --since ${since.slice(0, 40)} is not a date`, {
      hint: "Write it as YYYY-MM-DD (a UTC day).",
    });
  }
  const days = await readPullStats(deps.store, {
    ...(options.name === undefined ? {} : { repository: options.name }),
    ...(since === undefined ? {} : { since }),
  });
  const byTag = new Map<string, { repository: string; tag: string; pulls: number }>();
  for (const d of days) {
    const key = `${d.repository}\n${d.tag}`;
    const row = byTag.get(key) ?? { repository: d.repository, tag: d.tag, pulls: 0 };
    row.pulls += d.pulls;
    byTag.set(key, row);
  }
  const totals = [...byTag.values()].sort(
    (a, b) => b.pulls - a.pulls || a.repository.localeCompare(b.repository) || a.tag.localeCompare(b.tag),
  );
  return {
    isv: options.isv,
    ...(options.name === undefined ? {} : { repository: options.name }),
    ...(since === undefined ? {} : { since }),
    totals,
    days,
    pulls: totals.reduce((n, t) => n + t.pulls, 0),
  };
}
