/**
 * `raas demote <isv> <name>:<tag> --from prod` (or `raas promote --remove`): withdraw a tag from
 * one environment, as one commit to its app repository that also drops the tag from the
 * environments record. The same planning as `raas delete` (src/publish/deletion.ts); storage
 * is left to `raas gc`, except `tags/list`, rewritten after the commit.
 */
import { tagsListKey } from "../crane/keys.js";
import { APPROVALS_FILE, parseApprovals, serializeApprovals, withdrawn } from "../environments/approvals.js";
import { parseTagReference } from "../environments/promotion.js";
import { planDeletion, type DeletionPlan } from "../publish/deletion.js";
import { metadataFileName } from "../image/names.js";
import { v1MetadataPath } from "../publish/v1-push.js";
import { deleteEvents, recordEvents } from "../events/push-events.js";
import type { CraneV4 } from "../crane/types.js";
import { applyPlan, readV4, removedImages } from "./delete.js";
import type { EnvironmentSide } from "./promote.js";
import { requireSetUp } from "./checks.js";
import { checkPromotionAccess } from "./promotion-access.js";
import type { CommandContext } from "./types.js";
import { waitForGone } from "./wait-gone.js";

export interface DemoteOptions {
  isv: string;
  reference: string;
  plan: boolean;
  wait: boolean;
  timeoutSeconds: number;
}

export interface DemoteResult {
  isv: string;
  name: string;
  tag: string;
  from: string;
  digest: string;
  plan: boolean;
  /** The repository lost its last tag in that environment. */
  repositoryRemoved: boolean;
  commit: string | undefined;
  deployed: boolean | null;
}

export async function demote(
  options: DemoteOptions,
  ctx: CommandContext,
  deps: { target: EnvironmentSide },
): Promise<DemoteResult> {
  const { target } = deps;
  const { name, tag } = parseTagReference(options.reference, "demote");
  await requireSetUp(`${options.isv} --env ${target.name}`, target.platform);
  const grant = await checkPromotionAccess(target, "demote", options.isv, name, tag);
  const metadataPath = `data/${metadataFileName(options.isv, name)}`;
  const v1Path = v1MetadataPath(options.isv, name);
  const read = target.app.read.bind(target.app);
  const before = await readV4(read, metadataPath, name, options.isv);
  // Refuses a tag the environment does not have, naming the tags it has.
  const planned = planDeletion(before, { name, tag }, new Date());
  const digest = before["x-raas"]?.tags[tag] ?? "";
  const result = (p: DeletionPlan, commit: string | undefined, deployed: boolean | null): DemoteResult => ({
    isv: options.isv,
    name,
    tag,
    from: target.name,
    digest,
    plan: options.plan,
    repositoryRemoved: p.next === undefined,
    commit,
    deployed,
  });
  if (options.plan) return result(planned, undefined, null);

  const step = ctx.reporter.step(`Withdrawing ${name}:${tag} from ${target.name}`);
  let plan = planned;
  let committed: CraneV4 | undefined;
  const { commit } = await target.app.update(
    `${options.isv} demote ${name}:${tag} from ${target.name}\n\nDigest: ${digest}\nDemoted-from: ${target.name}\n` +
      (grant === undefined ? "" : `Demoted-by: ${grant.login} (${grant.rule})\n`),
    async (files) => {
      const current = await readV4((p) => files.read(p), metadataPath, name, options.isv);
      plan = planDeletion(current, { name, tag }, new Date());
      committed = current;
      await applyPlan(files, plan, current, metadataPath, v1Path);
      const approvals = parseApprovals(await files.read(APPROVALS_FILE));
      if (approvals[`${name}:${tag}`] !== undefined) {
        await files.write(APPROVALS_FILE, serializeApprovals(withdrawn(approvals, `${name}:${tag}`)));
      }
    },
  );
  step.succeed(
    `Withdrew ${name}:${tag} from ${target.name}${commit === undefined ? "" : ` (commit ${commit.slice(0, 12)})`}`,
  );
  if (plan.next !== undefined) {
    const tags = Object.keys(plan.next["x-raas"]?.tags ?? {}).sort();
    await target.store.put(tagsListKey(plan.next.repository), Buffer.from(JSON.stringify({ name, tags })), {
      contentType: "application/json",
    });
  }
  // Events (docs/events.md): a demotion is a tag deletion in the target environment.
  if (commit !== undefined && committed !== undefined && (target.settings.events ?? []).length > 0) {
    await recordEvents(
      target.store,
      deleteEvents(removedImages(name, committed, plan), target.platform.appUrl),
    );
  }
  const deploy = target.platform.deployAfterPublish;
  if (commit !== undefined && deploy !== undefined) await deploy(options.timeoutSeconds * 1000);
  const deployed = options.wait
    ? await waitForGone(target.platform.appUrl, name, [tag], {
        timeoutMs: options.timeoutSeconds * 1000,
        reporter: ctx.reporter,
        registry: await target.registry(),
      })
    : null;
  return result(plan, commit, deployed);
}
