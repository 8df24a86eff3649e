/**
 * The timing rules that make garbage collection safe while others publish (docs/gc.md):
 *
 *   A push marks nothing while it runs: blobs it uploads are unreferenced until its metadata
 *   commit. GC deletes only what is unreferenced AND older than the grace period, and marks
 *   from every metadata state of the grace window. So every push must go from reading the
 *   metadata to its commit in less than the grace period (plus the clock skew between the
 *   machines, git committers and the storage server).
 */
export const DEFAULT_GRACE_MS = 24 * 3_600_000;
/** DEFAULT_GRACE_MS as `--grace` help and output write it. */
export const DEFAULT_GRACE = "24h";

/** Below this GC refuses unless forced (`--unsafe-grace`): a push longer than the grace breaks. */
export const MIN_GRACE_MS = 3_600_000;

/** Where GC records its last run, outside every repository prefix (GC never collects it). */
export const GC_RECORD_KEY = ".raas-gc/last.json";

/** Where `raas gc --retention` records its last run that was not a dry run (read by status). */
export const RETENTION_RECORD_KEY = ".raas-gc/retention.json";
