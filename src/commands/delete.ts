import { parseMetadata } from "../crane/parse.js";
import { serializeMetadata } from "../crane/serialize.js";
import type { CraneV4 } from "../crane/types.js";
import { UserError } from "../errors.js";
import { dashed, metadataFileName } from "../image/names.js";
import {
  parseDeleteReference,
  planDeletion,
  type DeleteReference,
  type DeletionPlan,
} from "../lifecycle/deletion.js";
import { v1WithoutTags } from "../lifecycle/v1-file.js";
import { tagsListKey } from "../crane/keys.js";
import { v1MetadataPath } from "../publish/v1-push.js";
import type { BlobStore } from "../storage/types.js";
import type { AppRepository, RepoFiles } from "../app/app-repository.js";
import type { CommandContext } from "./types.js";
import { waitForGone } from "./wait-gone.js";

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
  deploy?: () => Promise<string>;
  authorize?: AuthorizeDelete;
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
  const v1Path = v1MetadataPath(options.isv, name);
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
  const { commit } = await deps.app.update(`${options.isv} delete ${what}`, async (files) => {
    const current = await readV4(files.read, metadataPath, name, options.isv);
    plan = planDeletion(current, reference, new Date());
    await applyPlan(files, plan, current, metadataPath, v1Path);
  });
  // update() runs the change at least once, or throws.
  const done = plan!;
  step.succeed(
    `Deleted ${describePlan(done)}${commit === undefined ? "" : ` (commit ${commit.slice(0, 12)})`}`,
  );

  if (done.next !== undefined) {
    const tags = Object.keys(done.next["x-raas"]?.tags ?? {}).sort();
    await deps.store.put(tagsListKey(done.next.repository), Buffer.from(JSON.stringify({ name, tags })), {
      contentType: "application/json",
    });
  }
  if (commit !== undefined && deps.deploy !== undefined) await deps.deploy();
  let deployed: boolean | null = null;
  if (options.wait) {
    deployed = await waitForGone(deps.registryUrl, name, [...done.removedTags, ...done.removedManifests], {
      timeoutMs: options.timeoutSeconds * 1000,
      reporter: ctx.reporter,
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

export async function applyPlan(
  files: RepoFiles,
  plan: DeletionPlan,
  current: CraneV4,
  metadataPath: string,
  v1Path: string,
): Promise<void> {
  const repository = current.repository;
  // The manifests the registry serves live beside the metadata (manifests/<repository>/<digest>).
  for (const digest of plan.removedManifests) await files.remove(`manifests/${repository}/${digest}`);
  const v1Text = await files.read(v1Path);
  if (plan.next === undefined) {
    await files.remove(metadataPath);
    if (v1Text !== undefined) await files.remove(v1Path);
    return;
  }
  await files.write(metadataPath, serializeMetadata(plan.next));
  if (v1Text !== undefined) {
    const next = v1WithoutTags(v1Text, v1Path, plan.removedTags);
    if (next !== v1Text) await files.write(v1Path, next);
  }
}

export async function readV4(
  read: (path: string) => Promise<string | undefined>,
  path: string,
  name: string,
  isv: string,
): Promise<CraneV4> {
  const text = await read(path);
  if (text === undefined) {
    throw new UserError(`${isv} has no repository ${name} (no ${path} in the app repository)`, {
      hint: `\`raas status ${isv}\` lists the published repositories.`,
      code: "NOT_FOUND",
    });
  }
  const meta = parseMetadata(text, path);
  if (meta.version !== 4) {
    throw new UserError(
      `${path} is Crane metadata version ${meta.version}; raas deletes only from version 4 files it wrote`,
    );
  }
  if (meta["repo-registry-id"] !== name || meta.repository !== dashed(name)) {
    throw new UserError(`${path} describes ${meta["repo-registry-id"]}, not ${name}; nothing was deleted`);
  }
  return meta;
}

function describePlan(plan: DeletionPlan): string {
  const parts: string[] = [];
  if (plan.removedTags.length > 0) parts.push(`tag(s) ${plan.removedTags.join(", ")}`);
  if (plan.removedManifests.length > 0) parts.push(`${plan.removedManifests.length} manifest(s)`);
  if (plan.next === undefined) parts.push("the repository (its last tag)");
  return parts.join(", ");
}
