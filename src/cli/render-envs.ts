/** Text output of `raas promote`, `raas demote` and `raas cluster-config`. */
import type { ClusterConfigResult } from "../commands/cluster-config.js";
import type { DemoteResult } from "../commands/demote.js";
import type { PromoteResult } from "../commands/promote.js";
import { formatBytes } from "../publish/upload.js";
import { pullTlsOptions } from "./render-pull.js";

interface Out {
  write(text: string): void;
}

export function renderPromote(r: PromoteResult, out: Out): void {
  const what = `${r.name}:${r.tag}${r.targetTag === r.tag ? "" : ` as ${r.targetTag}`}`;
  const b = r.blobs;
  const objects =
    r.copyMode === "shared"
      ? "none to copy (shared store)"
      : `${b.copied} to copy ${r.copyMode} (${formatBytes(b.copiedBytes)}), ${b.present} already there`;
  if (r.plan) {
    out.write(`\nPlan: promote ${what} from ${r.from} to ${r.to} (nothing is changed)\n`);
    out.write(`  digest    ${r.digest}\n`);
    out.write(
      `  ${r.to.padEnd(9)} ${r.previousDigest === undefined ? (r.changed ? "does not have the tag yet" : "already has it at this digest: nothing to do") : `has it at ${r.previousDigest}: moved (--force)`}\n`,
    );
    out.write(`  manifests ${r.manifests}\n  blobs     ${b.total} (${b.masked} masked): ${objects}\n`);
    return;
  }
  out.write(
    r.changed
      ? `\nPromoted ${what} from ${r.from} to ${r.to}\n`
      : `\n${r.to} already has ${r.name}:${r.targetTag} at this digest; nothing changed\n`,
  );
  out.write(`  digest  ${r.digest}\n  blobs   ${b.total} (${b.masked} masked): ${objects}\n`);
  if (r.previousDigest !== undefined) out.write(`  replaced ${r.previousDigest}\n`);
  if (r.commit !== undefined) out.write(`  commit  ${r.commit}\n`);
  // The target's own trust, as `raas push` prints it: its CA's directory over HTTPS.
  out.write(`\nPull it with:\n  skopeo inspect${pullTlsOptions(r.registryTls).own} docker://${r.pullUrl}\n`);
}

export function renderDemote(r: DemoteResult, out: Out): void {
  out.write(
    `\n${r.plan ? "Plan: withdraw" : "Withdrew"} ${r.name}:${r.tag} (${r.digest}) from ${r.from}` +
      `${r.plan ? " (nothing is changed)" : ""}\n`,
  );
  if (r.repositoryRemoved) out.write(`  repository ${r.name} has no tags left in ${r.from}\n`);
  if (r.commit !== undefined) out.write(`  commit  ${r.commit}\n`);
}

export function renderClusterConfig(r: ClusterConfigResult, out: Out): void {
  out.write(r.yaml);
}
