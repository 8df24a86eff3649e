import type { CraneV4 } from "../crane/types.js";
import type { RegistryEvent } from "../events/envelope.js";
import { deleteEvents } from "../events/push-events.js";
import { metadataFileName } from "../image/names.js";
import {
  parseDeleteReference,
  planDeletion,
  type DeleteReference,
  type DeletionPlan,
} from "../publish/deletion.js";
import {
  deleteInFiles,
  forgetRemovedReferrers,
  readV4,
  removedImages,
  writeTagsList,
} from "../publish/delete-apply.js";
import type { BlobStore } from "../storage/types.js";
import type { AppRepository } from "../app/app-repository.js";
import type { CommandContext } from "./types.js";
import { waitForGone } from "./wait-gone.js";
import type { RegistryClient } from "../app/registry-http.js";

// Shared with the registry's DELETE route (src/publish/delete-apply.ts); re-exported for the
// commands that delete as part of something else (retention, demote).
export { applyPlan, readV4, removedImages, writeTagsList } from "../publish/delete-apply.js";

export interface DeleteOptions {
  isv: string;
  /** `<name>:<tag>` or `<name>@<digest>`. */
  reference: string;
  dryRun: boolean;
  /** Wait until the registry stops serving what was deleted. */
  wait: boolean;
  timeoutSeconds: number;
}

/** What is being asked, for the access rules. */
export interface DeleteRequest {
  isv: string;
  name: string;
  reference: DeleteReference;
}

/**
 * The access-rule hook for deletion. Until the access rules exist, whoever can push to the
 * app repository may delete (the git remote's permissions are the only gate); the rules will
 * plug in here and throw a UserError to refuse.
 */
export type AuthorizeDelete = (request: DeleteRequest) => Promise<void>;

export interface DeleteDeps {
  app: AppRepository;
  /** For rewriting `<app>/tags/list` after the commit (Crane clients read it from storage). */
  store: BlobStore;
  registryUrl: string;
  /** How `--wait` reaches the registry: its CA (HTTPS) and raas's login (registryClientFor). */
  registry: () => Promise<RegistryClient>;
  deploy?: () => Promise<string>;
  authorize?: AuthorizeDelete;
  /** Store events in the ISV's outbox; undefined when no event endpoint is configured. */
  recordEvents?: (events: RegistryEvent[]) => Promise<void>;
}

export interface DeleteResult {
  isv: string;
  deleted: {
    name: string;
    reference: string;
    dryRun: boolean;
    metadataFile: string;
    removedTags: string[];
    removedManifests: string[];
    /** Blobs no longer referenced by the repository; `raas gc` frees them after the grace period. */
    unreferencedBlobs: number;
    /** The repository lost its last tag: its metadata file is gone, so are catalog and search entries. */
    repositoryRemoved: boolean;
    commit: string | undefined;
    /** true when the registry stopped serving what was deleted, false when not, null when not checked. */
    deployed: boolean | null;
  };
}

/**
 * Delete a tag, or a manifest and every tag pointing at it, as one commit to the app repository
 * through the same transaction push uses (recomputed on the newest state when another publish
 * wins the race). Storage is left alone: what became unreferenced is collected by `raas gc`.
 */
export async function deleteImage(
  options: DeleteOptions,
  ctx: CommandContext,
  deps: DeleteDeps,
): Promise<DeleteResult> {
  const reference = parseDeleteReference(options.reference);
  const name = reference.name;
  await deps.authorize?.({ isv: options.isv, name, reference });
  const metadataPath = `data/${metadataFileName(options.isv, name)}`;
  const what = "tag" in reference ? `${name}:${reference.tag}` : `${name}@${reference.digest}`;
  let plan: DeletionPlan;

  if (options.dryRun) {
    plan = planDeletion(
      await readV4(deps.app.read.bind(deps.app), metadataPath, name, options.isv),
      reference,
      new Date(),
    );
    ctx.reporter.info(`Dry run: would delete ${describePlan(plan)}`);
    return { isv: options.isv, deleted: result(plan, undefined, null) };
  }

  const step = ctx.reporter.step(`Deleting ${what}: committing to ${deps.app.remote}`);
  let before: CraneV4;
  const { commit } = await deps.app.update(`${options.isv} delete ${what}`, async (files) => {
    ({ plan, before } = await deleteInFiles(files, options.isv, reference, new Date()));
  });
  // update() runs the change at least once, or throws.
  const done = plan!;
  if (commit !== undefined && deps.recordEvents !== undefined) {
    // Delete events (docs/events.md): in the outbox once the deletion is committed.
    await deps.recordEvents(deleteEvents(removedImages(name, before!, done), deps.registryUrl));
  }
  step.succeed(
    `Deleted ${describePlan(done)}${commit === undefined ? "" : ` (commit ${commit.slice(0, 12)})`}`,
  );

  if (done.next !== undefined) await writeTagsList(deps.store, name, done.next);
  if (commit !== undefined) await forgetRemovedReferrers(deps.store, { before: before!, plan: done });
  if (commit !== undefined && deps.deploy !== undefined) await deps.deploy();
  let deployed: boolean | null = null;
  if (options.wait) {
    deployed = await waitForGone(deps.registryUrl, name, [...done.removedTags, ...done.removedManifests], {
      timeoutMs: options.timeoutSeconds * 1000,
      reporter: ctx.reporter,
      registry: await deps.registry(),
    });
  }
  return { isv: options.isv, deleted: result(done, commit, deployed) };

  function result(p: DeletionPlan, c: string | undefined, d: boolean | null): DeleteResult["deleted"] {
    return {
      name,
      reference: "tag" in reference ? reference.tag : reference.digest,
      dryRun: options.dryRun,
      metadataFile: metadataPath,
      removedTags: p.removedTags,
      removedManifests: p.removedManifests,
      unreferencedBlobs: p.removedBlobs.length,
      repositoryRemoved: p.next === undefined,
      commit: c,
      deployed: d,
    };
  }
}

function describePlan(plan: DeletionPlan): string {
  const parts: string[] = [];
  if (plan.removedTags.length > 0) parts.push(`tag(s) ${plan.removedTags.join(", ")}`);
  if (plan.removedManifests.length > 0) parts.push(`${plan.removedManifests.length} manifest(s)`);
  if (plan.next === undefined) parts.push("the repository (its last tag)");
  return parts.join(", ");
}
