/**
 * Follow mode's moving parts, shared by a single server and a cluster's primary: the bare copy
 * of the app repository, the incremental loader, and how checks are scheduled. A check is one
 * `git ls-remote` (plus a fetch and an incremental load when the branch moved); requests for
 * a check coalesce, and a request made while one runs is answered by the next one, so a push
 * that lands during a check is never missed. Notifications (POST /raas/notify) are throttled:
 * however many arrive, checks start at most every NOTIFY_GAP_MS.
 */
import type { LogFn } from "../crane/load.js";
import type { ServerConfig } from "./config.js";
import { FollowRepository } from "./follow-git.js";
import { FollowedMetadata } from "./snapshot-follow.js";

/** The shortest time between two checks started by notifications. */
export const NOTIFY_GAP_MS = 200;

export const isFollowing = (config: ServerConfig): boolean => config.metadata.follow !== "";

export function followRepository(config: ServerConfig): FollowRepository {
  return new FollowRepository({
    remote: config.metadata.follow,
    branch: config.metadata.followBranch,
    dir: config.metadata.followDir,
  });
}

export function followedMetadata(config: ServerConfig, log: LogFn): FollowedMetadata {
  return new FollowedMetadata(followRepository(config), config, log);
}

/**
 * Run `task` on request, one run at a time. The promise a request gets settles after a run that
 * started after the request (so a caller that just pushed sees its commit).
 */
export function coalesced(task: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const start = (): Promise<void> => {
    running = task().finally(() => {
      running = undefined;
    });
    return running;
  };
  return () => {
    if (running === undefined) return start();
    queued ??= running.then(
      () => {
        queued = undefined;
        return start();
      },
      () => {
        queued = undefined;
        return start();
      },
    );
    return queued;
  };
}

/** Call `task` at most once per `gapMs`; calls in between fold into one at the end of the gap. */
export function throttled(task: () => void, gapMs = NOTIFY_GAP_MS): () => void {
  let last = 0;
  let timer: NodeJS.Timeout | undefined;
  return () => {
    if (timer !== undefined) return;
    const wait = last + gapMs - Date.now();
    if (wait <= 0) {
      last = Date.now();
      task();
      return;
    }
    timer = setTimeout(() => {
      timer = undefined;
      last = Date.now();
      task();
    }, wait);
    timer.unref();
  };
}

/** Retry a git step once after a short pause (another process of this server may hold a ref lock). */
export async function retryOnce<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch {
    await new Promise((resolve) => setTimeout(resolve, 250));
    return step();
  }
}
