import type { AppRepository } from "../app/app-repository.js";
import { parseMetadata } from "../crane/parse.js";
import type { CraneMetadata } from "../crane/types.js";
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
  deps: {
    store: BlobStore;
    /** Repositories the ISV publishes now, with their tags (read only when one name is asked for). */
    published?: () => Promise<Map<string, string[]>>;
  },
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
  // One repository asked for and no pulls: zeros for a published one, an error for a name
  // the registry does not know (a typo must not read as "nobody pulls it").
  if (options.name !== undefined && days.length === 0 && deps.published !== undefined) {
    const published = await deps.published();
    const tags = published.get(options.name);
    if (tags === undefined) {
      const names = [...published.keys()].sort();
      throw new UserError(`raas stats: ${options.isv} has no repository ${options.name}`, {
        code: "UNKNOWN_REPOSITORY",
        hint:
          names.length === 0
            ? `${options.isv} has published nothing yet.`
            : `Its repositories: ${names.slice(0, 10).join(", ")}${names.length > 10 ? `, and ${names.length - 10} more` : ""}.`,
      });
    }
    for (const tag of tags) byTag.set(`${options.name}\n${tag}`, { repository: options.name, tag, pulls: 0 });
  }
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

/** The tags a metadata file publishes (older Crane versions without raas records: none known). */
function tagsOf(meta: CraneMetadata): string[] {
  if (meta.version === 1) return Object.keys(meta.tags);
  if (meta.version === 4) return Object.keys(meta["x-raas"]?.tags ?? meta.manifest_list_amd64_tags);
  return [];
}

/** Repository name -> tags, from the Crane metadata at the app repository's newest commit. */
export async function publishedRepositories(app: AppRepository): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const dir of ["data", "data/v1"]) {
    for (const name of (await app.list(dir)).filter((f) => f.endsWith(".json"))) {
      const path = `${dir}/${name}`;
      const text = await app.read(path);
      if (text === undefined) continue;
      try {
        const meta = parseMetadata(text, path);
        const tags = new Set([...(out.get(meta["repo-registry-id"]) ?? []), ...tagsOf(meta)]);
        out.set(meta["repo-registry-id"], [...tags].sort());
      } catch {
        // An unreadable file names no repository here; `raas status` reports it.
      }
    }
  }
  return out;
}
