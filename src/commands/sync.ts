import { parseMetadata } from "../crane/parse.js";
import { InterruptedError, UserError, errorMessage } from "../errors.js";
import type { Digest } from "../image/digest.js";
import { metadataFileName } from "../image/names.js";
import { registryClient } from "../sources/registry/index.js";
import { mapName, planTags } from "../sync/rules.js";
import { loadSyncSpec, type RepositorySpec, type UpstreamSpec } from "../sync/spec.js";
import { push } from "./push.js";
import type { CommandContext, PushDeps } from "./types.js";
import { waitForTags } from "./wait.js";

export interface SyncOptions {
  isv: string;
  /** The specification file (docs/sync.md). */
  spec: string;
  /** Decide and report, publish nothing. */
  dryRun: boolean;
  /** Wait until the registry serves what was published (default true). */
  wait?: boolean;
  timeoutSeconds?: number;
}

export interface SyncedTag {
  /** Upstream tag. */
  tag: string;
  /** Published tag (after renames). */
  as: string;
  digest: string;
}

export interface SyncedRepository {
  upstream: string;
  source: string;
  /** Published name; undefined when the name rule failed. */
  name?: string;
  published: SyncedTag[];
  unchanged: SyncedTag[];
  skipped: { tag: string; reason: string }[];
  failed: { tag: string; reason: string }[];
  commits: string[];
}

export interface SyncResult {
  isv: string;
  dryRun: boolean;
  ok: boolean;
  repositories: SyncedRepository[];
  /** true when the registry answered every published tag, false when not, null when not checked. */
  deployed: boolean | null;
  /** Upstream requests made to decide (tag lists, manifest HEADs), not counting the publishing. */
  upstreamRequests: number;
  durationMs: number;
}

/**
 * Mirror upstream repositories under their original names: list tags, apply the rules, one
 * manifest HEAD per candidate tag, and publish only images whose digest differs from what the
 * ISV's metadata says the tag serves. Each changed image is published and committed on its
 * own (by digest, through push), so an interrupted sync keeps what it finished and a rerun
 * only does the rest; blobs already uploaded are not uploaded again.
 */
export async function sync(options: SyncOptions, ctx: CommandContext, deps: PushDeps): Promise<SyncResult> {
  const started = Date.now();
  const spec = await loadSyncSpec(options.spec);
  deps.app.warm?.();
  const repositories: SyncedRepository[] = [];
  let upstreamRequests = 0;
  for (const upstream of spec.upstreams) {
    for (const repo of upstream.repositories) {
      const report: SyncedRepository = {
        upstream: upstream.registry,
        source: repo.source,
        published: [],
        unchanged: [],
        skipped: [],
        failed: [],
        commits: [],
      };
      repositories.push(report);
      try {
        upstreamRequests += await syncRepository(upstream, repo, report, options, ctx, deps);
      } catch (err) {
        // An interrupt stops the whole sync (exit 130), not one repository or tag.
        if (!(err instanceof UserError) || err instanceof InterruptedError) throw err;
        report.failed.push({ tag: "*", reason: errorMessage(err) });
      }
      ctx.reporter.info(
        `${upstream.registry}/${repo.source} -> ${report.name ?? "?"}: ${report.published.length} published, ` +
          `${report.unchanged.length} unchanged, ${report.skipped.length} skipped, ${report.failed.length} failed`,
      );
    }
  }
  const published = repositories.flatMap((r) =>
    r.name === undefined || r.published.length === 0
      ? []
      : [...groupByDigest(r.published)].map(([digest, tags]) => ({ name: r.name ?? "", tags, digest })),
  );
  let deployed: boolean | null = null;
  if (!options.dryRun && options.wait !== false && published.length > 0) {
    deployed = await waitForTags(deps.platform.appUrl, published, {
      timeoutMs: (options.timeoutSeconds ?? 60) * 1000,
      reporter: ctx.reporter,
      isv: options.isv,
      registry: await deps.registry(),
    });
  }
  return {
    isv: options.isv,
    dryRun: options.dryRun,
    deployed,
    ok: repositories.every((r) => r.failed.length === 0) && deployed !== false,
    repositories,
    upstreamRequests,
    durationMs: Date.now() - started,
  };
}

async function syncRepository(
  upstream: UpstreamSpec,
  repo: RepositorySpec,
  report: SyncedRepository,
  options: SyncOptions,
  ctx: CommandContext,
  deps: PushDeps,
): Promise<number> {
  const name = mapName(repo.source, repo.name);
  report.name = name;
  const client = await registryClient(upstream.registry, repo.source, ctx.env, upstream.source);
  const served = await servedTags(deps, options.isv, name);
  const decisions = planTags(await client.tags(repo.source), repo.tags, (as) => served.has(as));
  // Changed tags grouped by digest: one publication (and one commit) per distinct image.
  const changed = new Map<Digest, SyncedTag[]>();
  for (const decision of decisions) {
    if (decision.action === "skip") {
      report.skipped.push({ tag: decision.tag, reason: decision.reason });
      continue;
    }
    try {
      const { digest } = await client.resolve(repo.source, decision.tag);
      const entry = { tag: decision.tag, as: decision.as, digest };
      if (served.get(decision.as) === digest) report.unchanged.push(entry);
      else changed.set(digest, [...(changed.get(digest) ?? []), entry]);
    } catch (err) {
      if (!(err instanceof UserError) || err instanceof InterruptedError) throw err;
      report.failed.push({ tag: decision.tag, reason: errorMessage(err) });
    }
  }
  for (const [digest, entries] of changed) {
    if (options.dryRun) {
      report.published.push(...entries);
      continue;
    }
    try {
      const result = await push(
        {
          isv: options.isv,
          image: `docker://${upstream.registry}/${repo.source}@${digest}`,
          name,
          tags: entries.map((e) => e.as),
          wait: false,
          timeoutSeconds: 60,
          source: { ...upstream.source, resolved: { credentials: client.credentials } },
        },
        ctx,
        deps,
      );
      report.published.push(...entries);
      if (result.commit !== undefined) report.commits.push(result.commit);
    } catch (err) {
      if (!(err instanceof UserError) || err instanceof InterruptedError) throw err;
      for (const e of entries) report.failed.push({ tag: e.tag, reason: errorMessage(err) });
    }
  }
  return client.stats.requests;
}

function groupByDigest(tags: readonly SyncedTag[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const t of tags) groups.set(t.digest, [...(groups.get(t.digest) ?? []), t.as]);
  return groups;
}

/** Tag -> digest the ISV's metadata says the registry serves for a repository. */
async function servedTags(deps: PushDeps, isv: string, name: string): Promise<Map<string, string>> {
  const path = `data/${metadataFileName(isv, name)}`;
  const text = await deps.app.read(path);
  if (text === undefined) return new Map();
  const meta = parseMetadata(text, path);
  const tags = meta.version === 4 ? (meta["x-raas"]?.tags ?? {}) : {};
  return new Map(Object.entries(tags));
}
