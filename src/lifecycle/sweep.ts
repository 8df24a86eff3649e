/**
 * The sweep plan: which listed objects garbage collection may delete. Only keys of the image
 * layout under a repository prefix are candidates; anything else in the store (the probe
 * prefix, the GC record, upload or event state of other subsystems, files we do not know) is
 * never touched. A candidate is deleted only when nothing reaches it AND it is older than the
 * grace period, which protects what a push uploaded but has not committed yet.
 */
import type { ListedObject } from "../storage/types.js";
import { isReachable, type ReachableView } from "./reachable.js";

export type ObjectKind = "blob" | "manifest" | "tags-list" | "v1";

/** Storage prefixes are dashed repository names: `acme/app` is stored under `acme-app/`. */
const REPOSITORY_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const BLOB_RE = /^blobs\/sha256:[a-f0-9]{64}$/;
// Schema 1 manifests (manifests/1/) are never written by raas: left alone, as Pulp left them.
const MANIFEST_RE = /^manifests\/(?:2|list)\/(?:sha256:[a-f0-9]{64}|[A-Za-z0-9_][A-Za-z0-9._-]{0,127})$/;
const V1_RE = /^[a-f0-9]{64}\/(?:ancestry|json|layer)$/;

/** What a key is in the image layout, or undefined for keys GC never touches. */
export function classifyKey(key: string): { repository: string; kind: ObjectKind } | undefined {
  const slash = key.indexOf("/");
  if (slash <= 0) return undefined;
  const repository = key.slice(0, slash);
  if (!REPOSITORY_RE.test(repository)) return undefined;
  const rest = key.slice(slash + 1);
  if (BLOB_RE.test(rest)) return { repository, kind: "blob" };
  if (MANIFEST_RE.test(rest)) return { repository, kind: "manifest" };
  if (rest === "tags/list") return { repository, kind: "tags-list" };
  if (V1_RE.test(rest)) return { repository, kind: "v1" };
  return undefined;
}

export interface Tally {
  count: number;
  bytes: number;
}

export interface SweepPlan {
  /** Unreachable and older than the cutoff: to delete. */
  sweep: ListedObject[];
  /**
   * Unreachable, but written after the cutoff (maybe a push in progress) or referenced by a
   * metadata state inside the grace window: kept this time.
   */
  graceKept: ListedObject[];
  reachable: Tally;
  /** Keys outside the image layout: never collected. */
  foreign: Tally;
}

export class SweepPlanner {
  readonly plan: SweepPlan = {
    sweep: [],
    graceKept: [],
    reachable: { count: 0, bytes: 0 },
    foreign: { count: 0, bytes: 0 },
  };

  /**
   * `reachable`: what the newest metadata references; `window`: what earlier metadata states
   * inside the grace window referenced (a deletion younger than the grace period).
   */
  constructor(
    private readonly reachable: ReachableView,
    private readonly cutoff: Date,
    private readonly window?: ReachableView,
  ) {}

  add(object: ListedObject): void {
    const plan = this.plan;
    if (classifyKey(object.key) === undefined) return count(plan.foreign, object);
    if (isReachable(this.reachable, object.key)) return count(plan.reachable, object);
    const young = object.lastModified.getTime() >= this.cutoff.getTime();
    if (young || (this.window !== undefined && isReachable(this.window, object.key))) {
      plan.graceKept.push(object);
    } else plan.sweep.push(object);
  }
}

export function tally(objects: readonly ListedObject[]): Tally {
  const total = { count: 0, bytes: 0 };
  for (const object of objects) count(total, object);
  return total;
}

function count(total: Tally, object: ListedObject): void {
  total.count += 1;
  total.bytes += object.size;
}
