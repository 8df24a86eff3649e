/**
 * `GET /raas/loaded`: what this registry process has loaded, so `raas status` can compare it
 * with the app repository instead of sending one HEAD per tag. For each repository the caller
 * may pull (every one without `[auth]`; with it, what the caller's login, or anonymous access,
 * may pull), a compact digest of its tags as served (src/crane/served-digest.ts). Nothing here
 * is more than the caller could learn with `tags/list` and a HEAD per tag. When the server follows
 * the app repository, the commit it serves (public: what anyone who can clone the repository sees).
 */
import { servedTagsDigest } from "../crane/served-digest.js";
import type { Digest } from "../image/digest.js";
import type { RequestContext } from "./context.js";
import { isFollowing } from "./follow.js";
import { sendJson } from "./http.js";
import { isRaasRepo } from "./raas-mode.js";
import { noRoute } from "./registry-error.js";
import { manifestKey, type Snapshot } from "./snapshot.js";

/** The digests of one snapshot, computed on the first request after a load. */
const digestsOf = new WeakMap<Snapshot, Map<string, { digest: string; tags: number }>>();

function computeDigests(snap: Snapshot): Map<string, { digest: string; tags: number }> {
  let digests = digestsOf.get(snap);
  if (digests !== undefined) return digests;
  digests = new Map();
  for (const repo of snap.index.v2.values()) {
    // Protected repositories are not served (v2.ts), and plain Crane files have no tag records.
    if (repo.meta.protected === true || !isRaasRepo(repo)) continue;
    const ext = repo.meta["x-raas"];
    const repository = repo.meta.repository;
    const digest = servedTagsDigest(
      ext.tags,
      (_tag, manifest) =>
        ext.manifests[manifest as Digest] !== undefined &&
        snap.manifests.has(manifestKey(repository, manifest as Digest)),
    );
    digests.set(repo.meta["repo-registry-id"], { digest, tags: Object.keys(ext.tags).length });
  }
  digestsOf.set(snap, digests);
  return digests;
}

export async function handleLoaded(ctx: RequestContext, segments: string[]): Promise<void> {
  const { req, res, snap } = ctx;
  if (segments.length !== 0) throw noRoute();
  // Only what the caller may pull: a pull filter never refuses, it narrows to the public names.
  const mayPull = ctx.access.mode === "off" ? () => true : await ctx.access.pullFilter(req);
  const repositories: Record<string, string> = {};
  let tags = 0;
  for (const [name, entry] of computeDigests(snap)) {
    if (!mayPull(name)) continue;
    repositories[name] = entry.digest;
    tags += entry.tags;
  }
  sendJson(req, res, 200, {
    loadedAt: snap.loadedAt.toISOString(),
    // Following the app repository, a snapshot is a commit: status compares it with the branch.
    ...(isFollowing(ctx.config) ? { commit: snap.fingerprint } : {}),
    files: snap.index.files.length,
    tags,
    repositories,
  });
}
