import { UserError } from "../errors.js";
import { markFromApp, markHistory, type MarkedSource } from "../lifecycle/metadata.js";
import { DEFAULT_GRACE, DEFAULT_GRACE_MS, GC_RECORD_KEY, MIN_GRACE_MS } from "../lifecycle/policy.js";
import { emptyReachable, type ReachableView } from "../lifecycle/reachable.js";
import { SweepPlanner, tally, type Tally } from "../lifecycle/sweep.js";
import { formatDuration } from "../lifecycle/duration.js";
import { mapLimit } from "../publish/pool.js";
import { MIN_UPLOAD_AGE_MS, sweepUploadSessions, type UploadSweep } from "../lifecycle/uploads.js";
import type { BlobStore, ListedObject } from "../storage/types.js";
import type { AppRepository } from "../app/app-repository.js";
import type { CommandContext } from "./types.js";
import type { RetentionResult } from "./retention.js";

export interface GcOptions {
  isv: string;
  dryRun: boolean;
  graceMs?: number;
  /** The grace as the user wrote it (`--grace 24h`), shown unchanged in the output. */
  graceText?: string;
  /** Allow a grace below MIN_GRACE_MS (tests, or a store nobody publishes to). */
  unsafeGrace?: boolean;
  /** Also remove upload sessions of the write API idle for longer than this (lifecycle/uploads.ts). */
  uploadAgeMs?: number;
  /** The upload age as the user wrote it, shown unchanged in the output. */
  uploadAgeText?: string;
}

export interface GcDeps {
  store: BlobStore;
  /** The ISV's app repository and those of every other environment sharing the store. */
  apps: AppRepository[];
  now?: () => Date;
  concurrency?: number;
  /** How many keys of each kind the result lists (all are counted). */
  listLimit?: number;
  /**
   * The newest metadata already marked and storage already listed, by the caller (`raas status`
   * with one app repository, --dry-run only): only the history inside the grace window is read.
   */
  prepared?: { reachable: ReachableView; files: number; objects: () => Iterable<ListedObject> };
}

export interface GcRecord {
  isv: string;
  finished: string;
  grace: string;
  freed: Tally;
  keptByGrace: Tally;
}

export interface GcResult {
  isv: string;
  /** With --retention: the tags the rules deleted (or would) and kept, before the sweep. */
  retention?: RetentionResult;
  gc: {
    dryRun: boolean;
    grace: string;
    graceMs: number;
    cutoff: string;
    sources: MarkedSource[];
    reachable: Tally;
    /** Deleted (or, with --dry-run, would be deleted). */
    freed: Tally;
    keptByGrace: Tally;
    /** Objects outside the image layout, never collected. */
    foreign: Tally;
    /** Candidates that changed or vanished between the listing and their deletion. */
    skipped: number;
    freedKeys: string[];
    keptByGraceKeys: string[];
    /** With --upload-age: abandoned upload sessions removed (or, with --dry-run, that would be). */
    uploads?: UploadSweep & { age: string };
    durationMs: number;
  };
}

/**
 * Mark every object the metadata of every given app repository reaches (now and at any point
 * inside the grace window), then delete what is unreachable and older than the grace period.
 */
export async function gc(options: GcOptions, ctx: CommandContext, deps: GcDeps): Promise<GcResult> {
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  if (graceMs < MIN_GRACE_MS && options.unsafeGrace !== true) {
    throw new UserError(
      `a grace period of ${formatDuration(graceMs)} is below the safe minimum of ${formatDuration(MIN_GRACE_MS)}`,
      {
        hint:
          "GC may delete blobs a push uploaded but has not committed yet when a push takes longer than the " +
          "grace period. Use --unsafe-grace only when nobody publishes to this store meanwhile.",
        exitCode: 2,
        code: "UNSAFE_GRACE",
      },
    );
  }
  if (
    options.uploadAgeMs !== undefined &&
    options.uploadAgeMs < MIN_UPLOAD_AGE_MS &&
    options.unsafeGrace !== true
  ) {
    throw new UserError(
      `an upload age of ${formatDuration(options.uploadAgeMs)} is below the safe minimum of ${formatDuration(MIN_UPLOAD_AGE_MS)}`,
      {
        hint: "A client that pauses an upload longer than this would lose it. Use --unsafe-grace only when nobody uploads meanwhile.",
        exitCode: 2,
        code: "UNSAFE_GRACE",
      },
    );
  }
  const now = deps.now ?? (() => new Date());
  const started = now();
  // The cutoff is taken before the metadata is read: a push committing after the read started
  // after the cutoff (it is shorter than the grace), so its uploads are all younger than it.
  const cutoff = new Date(started.getTime() - graceMs);
  const step = ctx.reporter.step(`Marking what the metadata of ${options.isv} references`);
  const prepared = deps.prepared;
  if (prepared !== undefined && (!options.dryRun || deps.apps.length !== 1)) {
    throw new Error("gc with a prepared listing is a dry run of one app repository");
  }
  const marked = emptyReachable();
  const reachable: ReachableView = prepared?.reachable ?? marked;
  const window = emptyReachable();
  const sources: MarkedSource[] = [];
  for (const app of deps.apps) {
    sources.push(
      prepared === undefined
        ? await markFromApp(app, marked, window, cutoff)
        : {
            remote: app.remote,
            files: prepared.files,
            earlierVersions: await markHistory(app, window, cutoff),
          },
    );
  }
  step.update(`Listing ${deps.store.description}`);
  const planner = new SweepPlanner(reachable, cutoff, window);
  if (prepared !== undefined) for (const object of prepared.objects()) planner.add(object);
  else for await (const object of deps.store.list("")) planner.add(object);
  const { plan } = planner;

  let freed: ListedObject[] = plan.sweep;
  let skipped = 0;
  if (!options.dryRun) {
    step.update(`Deleting ${plan.sweep.length} unreachable object(s)`);
    const done = await mapLimit(plan.sweep, deps.concurrency ?? 16, async (object) => {
      // Rewritten since the listing (a push refreshing or uploading it again): not garbage now.
      const info = await deps.store.head(object.key);
      if (info === undefined || (info.lastModified ?? now()).getTime() >= cutoff.getTime()) return false;
      await deps.store.delete(object.key);
      return true;
    });
    freed = plan.sweep.filter((_, i) => done[i] === true);
    skipped = plan.sweep.length - freed.length;
  }
  const uploads =
    options.uploadAgeMs === undefined
      ? undefined
      : {
          ...(await sweepUploadSessions(deps.store, {
            olderThanMs: options.uploadAgeMs,
            now: now(),
            dryRun: options.dryRun,
            concurrency: deps.concurrency ?? 16,
          })),
          age: options.uploadAgeText ?? formatDuration(options.uploadAgeMs),
        };
  const grace =
    options.graceText ?? (options.graceMs === undefined ? DEFAULT_GRACE : formatDuration(graceMs));
  const result: GcResult = {
    isv: options.isv,
    gc: {
      dryRun: options.dryRun,
      grace,
      graceMs,
      cutoff: cutoff.toISOString(),
      sources,
      reachable: plan.reachable,
      freed: tally(freed),
      keptByGrace: tally(plan.graceKept),
      foreign: plan.foreign,
      skipped,
      freedKeys: freed.slice(0, deps.listLimit ?? 1000).map((o) => o.key),
      keptByGraceKeys: plan.graceKept.slice(0, deps.listLimit ?? 1000).map((o) => o.key),
      ...(uploads === undefined ? {} : { uploads }),
      durationMs: now().getTime() - started.getTime(),
    },
  };
  if (!options.dryRun) {
    const record: GcRecord = {
      isv: options.isv,
      finished: now().toISOString(),
      grace: result.gc.grace,
      freed: result.gc.freed,
      keptByGrace: result.gc.keptByGrace,
    };
    await deps.store.put(GC_RECORD_KEY, Buffer.from(`${JSON.stringify(record)}\n`), {
      contentType: "application/json",
    });
  }
  const verb = options.dryRun ? "would free" : "freed";
  step.succeed(
    `${options.isv}: ${verb} ${result.gc.freed.count} unreferenced object(s); kept ${result.gc.keptByGrace.count} unreferenced object(s) within the ${grace} grace period`,
  );
  return result;
}

/** The last GC run recorded in the store, or undefined when none ran (or the record is unreadable). */
export async function readGcRecord(store: BlobStore): Promise<GcRecord | undefined> {
  try {
    if ((await store.head(GC_RECORD_KEY)) === undefined) return undefined;
    const parsed = JSON.parse((await store.getBuffer(GC_RECORD_KEY)).toString("utf8")) as Partial<GcRecord>;
    if (typeof parsed.finished !== "string" || typeof parsed.freed?.bytes !== "number") return undefined;
    return parsed as GcRecord;
  } catch (error) {
    // Storage problems are the caller's to report; a damaged record only loses the "last GC"
    // line of status, and the next run rewrites it.
    if (error instanceof UserError) throw error;
    return undefined;
  }
}
