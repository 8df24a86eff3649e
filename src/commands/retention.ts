/**
 * `raas gc --retention`: delete the tags the ISV's retention rules do not keep
 * (src/lifecycle/retention.ts), through the same path as `raas delete`: one commit to the app
 * repository for the whole run, tags/list rewritten, one `delete` event per tag and manifest.
 * The decisions are taken again on the newest metadata inside the commit, so a tag pushed or
 * moved meanwhile counts as new (and the newest) and is never deleted by a stale decision.
 */
import { parseMetadata } from "../crane/parse.js";
import { manifestKey } from "../crane/keys.js";
import type { CraneV4 } from "../crane/types.js";
import type { RegistryEvent } from "../events/envelope.js";
import { deleteEvents, type RemovedImages } from "../events/push-events.js";
import { UserError } from "../errors.js";
import { metadataFileName } from "../image/names.js";
import { planTagDeletions } from "../publish/deletion.js";
import { RETENTION_RECORD_KEY } from "../lifecycle/policy.js";
import {
  planRetention,
  rulesFor,
  statisticsSince,
  type RetentionDecision,
  type RetentionRule,
  type TagFacts,
} from "../lifecycle/retention.js";
import { v1MetadataPath } from "../publish/v1-push.js";
import { readPullStats } from "../stats/aggregate.js";
import type { BlobStore } from "../storage/types.js";
import type { AppRepository } from "../app/app-repository.js";
import { applyPlan, readV4, removedImages, writeTagsList } from "./delete.js";
import type { CommandContext } from "./types.js";

export interface RetentionOptions {
  isv: string;
  dryRun: boolean;
  rules: RetentionRule[];
}

export interface RetentionDeps {
  app: AppRepository;
  store: BlobStore;
  registryUrl: string;
  recordEvents?: (events: RegistryEvent[]) => Promise<void>;
  deploy?: () => Promise<string>;
  now?: () => Date;
}

export interface RetentionResult {
  dryRun: boolean;
  rules: string[];
  /** Repositories at least one rule names. */
  repositories: number;
  /** One per tag a rule applies to: deleted (or, with --dry-run, would be) or kept, and why. */
  decisions: RetentionDecision[];
  deletedTags: number;
  /** Repositories that lost their last tag. */
  removedRepositories: string[];
  commit: string | undefined;
}

interface Facts {
  /** Tag object dates by storage key. */
  dates: Map<string, Date>;
  /** Last pull day by `repository\ntag`. */
  pulls: Map<string, string>;
}

function tagFacts(meta: CraneV4, facts: Facts, planned?: Map<string, string>): TagFacts[] {
  const ext = meta["x-raas"];
  if (ext === undefined) return [];
  const name = meta["repo-registry-id"];
  return Object.entries(ext.tags).map(([tag, digest]) => {
    const record = ext.manifests[digest];
    const moved = planned !== undefined && planned.get(tag) !== digest;
    const since =
      record === undefined || moved
        ? undefined
        : facts.dates.get(manifestKey(meta.repository, record.mediaType, tag));
    const lastPulled = facts.pulls.get(`${name}\n${tag}`);
    return {
      tag,
      digest,
      ...(since === undefined ? {} : { since }),
      ...(lastPulled === undefined ? {} : { lastPulled }),
    };
  });
}

export async function applyRetention(
  options: RetentionOptions,
  ctx: CommandContext,
  deps: RetentionDeps,
): Promise<RetentionResult> {
  const { isv, rules } = options;
  if (rules.length === 0) {
    throw new UserError(`${isv} has no retention rules in raas.cfg; nothing to apply`, {
      hint: `Add a [retention.${isv}.<rule>] section (docs/gc.md, "Retention rules").`,
      exitCode: 2,
      code: "USAGE",
    });
  }
  const now = (deps.now ?? (() => new Date()))();
  const step = ctx.reporter.step(`Applying ${rules.length} retention rule(s) of ${isv}`);
  // Every v4 file of this ISV whose repository a rule names.
  const metas: CraneV4[] = [];
  for (const file of (await deps.app.list("data")).sort()) {
    if (!file.startsWith(`${isv}-`) || !file.endsWith(".json")) continue;
    const path = `data/${file}`;
    const text = await deps.app.read(path);
    if (text === undefined) continue;
    const meta = parseMetadata(text, path);
    if (meta.version !== 4 || meta["x-raas"] === undefined) continue;
    const name = meta["repo-registry-id"];
    if (metadataFileName(isv, name) !== file || rulesFor(rules, name).length === 0) continue;
    metas.push(meta);
  }
  const facts: Facts = { dates: new Map(), pulls: new Map() };
  for (const meta of metas) {
    for await (const object of deps.store.list(`${meta.repository}/manifests/`)) {
      facts.dates.set(object.key, object.lastModified);
    }
  }
  const since = statisticsSince(rules, now);
  if (since !== undefined) {
    for (const row of await readPullStats(deps.store, { since })) {
      const key = `${row.repository}\n${row.tag}`;
      if ((facts.pulls.get(key) ?? "") < row.day) facts.pulls.set(key, row.day);
    }
  }
  const decisions = metas.flatMap((meta) =>
    planRetention(meta["repo-registry-id"], tagFacts(meta, facts), rules, now),
  );
  const doomed = decisions.filter((d) => d.delete);
  const result: RetentionResult = {
    dryRun: options.dryRun,
    rules: rules.map((r) => r.name),
    repositories: metas.length,
    decisions,
    deletedTags: doomed.length,
    removedRepositories: [],
    commit: undefined,
  };
  if (options.dryRun || doomed.length === 0) {
    if (!options.dryRun) await writeRetentionRecord(deps.store, isv, now, result);
    step.succeed(
      `${isv}: retention ${options.dryRun ? "would delete" : "deletes"} ${doomed.length} tag(s) of ${metas.length} repositor${metas.length === 1 ? "y" : "ies"}`,
    );
    return result;
  }
  // What was decided, per repository: tag -> digest (a tag moved since is decided afresh).
  const planned = new Map<string, Map<string, string>>();
  for (const d of doomed) {
    const tags = planned.get(d.repository) ?? new Map<string, string>();
    tags.set(d.tag, d.digest);
    planned.set(d.repository, tags);
  }
  let removed: { name: string; images: RemovedImages; next: CraneV4 | undefined }[] = [];
  let finalDecisions: RetentionDecision[] = [];
  step.update(`Deleting ${doomed.length} tag(s): committing to ${deps.app.remote}`);
  const { commit } = await deps.app.update(
    `${isv} retention: delete ${doomed.length} tag(s)`,
    async (files) => {
      removed = [];
      finalDecisions = [];
      for (const [name, tags] of planned) {
        const metadataPath = `data/${metadataFileName(isv, name)}`;
        const text = await files.read(metadataPath);
        if (text === undefined) continue; // deleted meanwhile
        const current = await readV4((file) => files.read(file), metadataPath, name, isv);
        const again = planRetention(name, tagFacts(current, facts, tags), rules, now);
        const drop = again.filter((d) => d.delete && tags.get(d.tag) === d.digest);
        finalDecisions.push(...again);
        if (drop.length === 0) continue;
        const plan = planTagDeletions(
          current,
          drop.map((d) => d.tag),
          now,
        );
        await applyPlan(files, plan, current, metadataPath, v1MetadataPath(isv, name));
        removed.push({ name, images: removedImages(name, current, plan), next: plan.next });
      }
    },
  );
  const deleted = new Set(removed.flatMap((r) => r.images.tags.map((t) => `${r.name}\n${t.tag}`)));
  // The decisions as applied: a decision the newest state changed is reported as it ended.
  const byTag = new Map(finalDecisions.map((d) => [`${d.repository}\n${d.tag}`, d]));
  result.decisions = decisions.map((d) => {
    const key = `${d.repository}\n${d.tag}`;
    const final = byTag.get(key) ?? d;
    return { ...final, delete: deleted.has(key) };
  });
  result.deletedTags = deleted.size;
  result.removedRepositories = removed.filter((r) => r.next === undefined).map((r) => r.name);
  result.commit = commit;
  for (const r of removed) if (r.next !== undefined) await writeTagsList(deps.store, r.name, r.next);
  if (commit !== undefined && deps.recordEvents !== undefined) {
    await deps.recordEvents(removed.flatMap((r) => deleteEvents(r.images, deps.registryUrl, now)));
  }
  if (commit !== undefined && deps.deploy !== undefined) await deps.deploy();
  await writeRetentionRecord(deps.store, isv, now, result);
  step.succeed(
    `${isv}: retention deleted ${deleted.size} tag(s)${commit === undefined ? "" : ` (commit ${commit.slice(0, 12)})`}`,
  );
  return result;
}

/** The last retention run that was not a dry run, as `raas status` shows it. */
export interface RetentionRecord {
  isv: string;
  finished: string;
  rules: string[];
  deletedTags: number;
  /** `repository:tag`, the first RECORDED_TAGS of them. */
  deleted: string[];
  removedRepositories: string[];
  commit?: string;
}

const RECORDED_TAGS = 20;

async function writeRetentionRecord(
  store: BlobStore,
  isv: string,
  now: Date,
  result: RetentionResult,
): Promise<void> {
  const record: RetentionRecord = {
    isv,
    finished: now.toISOString(),
    rules: result.rules,
    deletedTags: result.deletedTags,
    deleted: result.decisions
      .filter((d) => d.delete)
      .slice(0, RECORDED_TAGS)
      .map((d) => `${d.repository}:${d.tag}`),
    removedRepositories: result.removedRepositories.slice(0, RECORDED_TAGS),
    ...(result.commit === undefined ? {} : { commit: result.commit }),
  };
  await store.put(RETENTION_RECORD_KEY, Buffer.from(`${JSON.stringify(record)}\n`), {
    contentType: "application/json",
  });
}
