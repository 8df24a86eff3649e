import type { AuthResult } from "../commands/auth.js";
import type { DeleteResult } from "../commands/delete.js";
import type { GcResult } from "../commands/gc.js";
import type { PushResult } from "../commands/push.js";
import type { SyncResult } from "../commands/sync.js";
import type { StatsResult } from "../commands/stats.js";
import { verdict, type Check, type CheckReport } from "../commands/checks.js";
import type { ServeResult } from "../commands/serve.js";
import { formatBytes } from "../publish/upload.js";
import { ExitCode } from "./exit-codes.js";
import { renderAuth } from "./render-auth.js";
import { renderClusterConfig, renderDemote, renderPromote } from "./render-envs.js";
import { pullTlsOptions } from "./render-pull.js";
import type { ClusterConfigResult } from "../commands/cluster-config.js";
import type { DemoteResult } from "../commands/demote.js";
import type { PromoteResult } from "../commands/promote.js";
import type { GlobalOptions } from "./program.js";

interface Out {
  write(text: string): void;
}

/** What a command returned, tagged with the command: rendering switches on the tag. */
export type CommandResult =
  | { command: "push"; result: PushResult }
  | { command: "setup"; result: CheckReport & { changed: boolean } }
  | { command: "status"; result: CheckReport }
  | { command: "serve"; result: ServeResult }
  | { command: "auth"; result: AuthResult }
  | { command: "delete"; result: DeleteResult }
  | { command: "gc"; result: GcResult }
  | { command: "sync"; result: SyncResult }
  | { command: "stats"; result: StatsResult }
  | { command: "promote"; result: PromoteResult }
  | { command: "demote"; result: DemoteResult }
  | { command: "cluster-config"; result: ClusterConfigResult };

/** Whether the command succeeded: push and serve throw when they fail; setup and status report checks. */
export function resultOk(tagged: CommandResult): boolean {
  switch (tagged.command) {
    case "push":
    case "serve":
    case "auth":
    case "delete":
    case "gc":
    case "stats":
    case "promote":
    case "demote":
    case "cluster-config":
      return true;
    case "setup":
    case "status":
    case "sync":
      return tagged.result.ok;
  }
}

/**
 * Whether a command that returned after SIGINT or SIGTERM finished what it was asked to do: a
 * push the signal reached only after its metadata commit is published (push.ts says so in its
 * result). Any other result after a signal is an interrupted run (exit 130).
 */
export function completedDespiteInterrupt(tagged: CommandResult): boolean {
  return tagged.command === "push" && tagged.result.interrupted !== undefined;
}

/** Turn a command's result into output and an exit code: text, --terse pull URLs, or --json. */
export function render(tagged: CommandResult, globals: GlobalOptions, out: Out): number {
  const ok = resultOk(tagged);
  // A DENY is an answer, not a failure (`ok` stays true), but scripts must tell it from ALLOW.
  const denied = tagged.command === "auth" && tagged.result.check?.allow === false;
  const code = !ok ? ExitCode.failure : denied ? ExitCode.denied : ExitCode.ok;
  if (globals.json) {
    out.write(`${JSON.stringify({ ok, command: tagged.command, ...tagged.result }, null, 2)}\n`);
    return code;
  }
  if (globals.terse) {
    for (const url of pullUrls(tagged)) out.write(`${url}\n`);
    return code;
  }
  switch (tagged.command) {
    case "push":
      renderPush(tagged.result, out);
      break;
    case "setup":
      renderSetup(tagged.result, out);
      break;
    case "status":
      renderChecks(tagged.result, out);
      break;
    case "serve":
      // The server announced itself and its end while it ran.
      break;
    case "auth":
      renderAuth(tagged.result, out);
      break;
    case "delete":
      renderDelete(tagged.result, out);
      break;
    case "gc":
      renderGc(tagged.result, out);
      break;
    case "sync":
      renderSync(tagged.result, out);
      break;
    case "stats":
      renderStats(tagged.result, out);
      break;
    case "promote":
      renderPromote(tagged.result, out);
      break;
    case "demote":
      renderDemote(tagged.result, out);
      break;
    case "cluster-config":
      renderClusterConfig(tagged.result, out);
      break;
  }
  return code;
}

function pullUrls(tagged: CommandResult): string[] {
  switch (tagged.command) {
    case "push":
      return tagged.result.images.flatMap((i) => i.pullUrls);
    case "setup":
    case "status":
      return tagged.result.pullUrls;
    case "serve":
    case "auth":
    case "delete":
    case "gc":
    case "sync":
    case "stats":
    case "demote":
    case "cluster-config":
      return [];
    case "promote":
      return tagged.result.plan ? [] : [tagged.result.pullUrl];
  }
}

function renderSync(result: SyncResult, out: Out): void {
  for (const repo of result.repositories) {
    out.write(`\n${repo.upstream}/${repo.source} -> ${repo.name ?? "(no name)"}\n`);
    const verb = result.dryRun ? "would publish" : "published";
    for (const t of repo.published) {
      out.write(`  ${verb.padEnd(13)} ${t.tag}${t.as === t.tag ? "" : ` as ${t.as}`}  ${t.digest}\n`);
    }
    for (const t of repo.unchanged) out.write(`  ${"unchanged".padEnd(13)} ${t.as}\n`);
    for (const t of repo.skipped) out.write(`  ${"skipped".padEnd(13)} ${t.tag}: ${t.reason}\n`);
    for (const t of repo.failed) out.write(`  ${"FAILED".padEnd(13)} ${t.tag}: ${t.reason}\n`);
  }
}

function renderPush(result: PushResult, out: Out): void {
  for (const image of result.images) {
    const { uploaded, present, masked } = image.counts;
    out.write(
      `\nPublished ${image.name}:${image.tags.join(", ")}\n` +
        `  digest  ${image.digest}\n` +
        `  blobs   ${uploaded} uploaded (${formatBytes(image.uploadedBytes)}), ${present} already stored, ${masked} masked\n`,
    );
  }
  if (result.commit !== undefined) out.write(`  commit  ${result.commit}\n`);
  const late = result.interrupted;
  if (late !== undefined) {
    const skipped = [
      ...(late.skipped.includes("deploy")
        ? ["not deployed: the registry serves it after the app's next build"]
        : []),
      ...(late.skipped.includes("wait") ? ["not checked that the registry serves it"] : []),
    ];
    out.write(
      `\nNote: ${late.signal} came after the metadata commit, too late to stop the push: it is published` +
        `${skipped.length === 0 ? "" : ` (${skipped.join("; ")})`}.\n`,
    );
  }
  const first = result.images[0]?.pullUrls[0];
  if (first !== undefined) {
    const tls = pullTlsOptions(result.registryTls);
    out.write(
      `\nPull it with:\n` +
        `  skopeo copy${tls.source} docker://${first} oci:./image\n` +
        `  podman pull${tls.own} ${first}\n`,
    );
  }
}

function renderDelete(result: DeleteResult, out: Out): void {
  const d = result.deleted;
  const verb = d.dryRun ? "Would delete" : "Deleted";
  out.write(`\n${verb} from ${d.name}:\n`);
  if (d.removedTags.length > 0) out.write(`  tags       ${d.removedTags.join(", ")}\n`);
  for (const digest of d.removedManifests) out.write(`  manifest   ${digest}\n`);
  if (d.repositoryRemoved) out.write(`  repository ${d.name} (no tags left: removed from the catalog)\n`);
  if (d.commit !== undefined) out.write(`  commit     ${d.commit}\n`);
  if (d.unreferencedBlobs > 0) {
    out.write(
      `\n${d.unreferencedBlobs} blob(s) are no longer referenced; \`raas gc ${result.isv}\` frees them.\n`,
    );
  }
}

function renderGc(result: GcResult, out: Out): void {
  const g = result.gc;
  const r = result.retention;
  if (r !== undefined) {
    const verb = r.dryRun ? "Would delete" : "Deleted";
    out.write(
      `\nRetention (${r.rules.join(", ")}): ${verb.toLowerCase()} ${r.deletedTags} tag(s) of ${r.repositories} repositor${r.repositories === 1 ? "y" : "ies"}\n`,
    );
    for (const d of r.decisions) {
      out.write(
        `  ${d.delete ? (r.dryRun ? "delete" : "deleted") : "keep  "}  ${d.repository}:${d.tag}  ${d.reasons.join("; ")}\n`,
      );
    }
    for (const name of r.removedRepositories) out.write(`  repository ${name} (no tags left: removed)\n`);
    if (r.commit !== undefined) out.write(`  commit     ${r.commit}\n`);
  }
  // Each line says what happened to which objects and why: kept because referenced, kept
  // because younger than the grace period (the threshold as the user wrote it), or removed.
  out.write(
    `\n${g.dryRun ? "Would free" : "Freed"} ${g.freed.count} unreferenced object(s) older than the ${g.grace} grace period, ${formatBytes(g.freed.bytes)}\n` +
      `  referenced  kept ${g.reachable.count} object(s) the metadata references, ${formatBytes(g.reachable.bytes)}\n` +
      `  too recent  kept ${g.keptByGrace.count} unreferenced object(s) written or last referenced less than ${g.grace} ago (the grace period: a push may not have committed them yet), ${formatBytes(g.keptByGrace.bytes)}\n`,
  );
  if (g.skipped > 0) out.write(`  skipped     kept ${g.skipped} object(s) rewritten or removed meanwhile\n`);
  if (g.uploads !== undefined) {
    const u = g.uploads;
    out.write(
      `  uploads     ${g.dryRun ? "would remove" : "removed"} ${u.sessions} upload session(s) idle for longer than ${u.age}, ${formatBytes(u.bytes)}; kept ${u.active} written to within ${u.age}\n`,
    );
  }
  for (const source of g.sources) {
    out.write(
      `  marked      ${source.remote}: ${source.files} file(s), ${source.earlierVersions} earlier version(s)\n`,
    );
  }
}

function renderStats(result: StatsResult, out: Out): void {
  const scope = `${result.repository ?? result.isv}${result.since === undefined ? "" : ` since ${result.since}`}`;
  if (result.totals.length === 0) {
    out.write(`No pulls recorded for ${scope}.\n`);
    return;
  }
  out.write(`Pulls of ${scope}: ${result.pulls}\n`);
  const width = Math.max(...result.totals.map((t) => `${t.repository}:${t.tag}`.length), 10);
  for (const t of result.totals) out.write(`  ${`${t.repository}:${t.tag}`.padEnd(width)}  ${t.pulls}\n`);
  out.write("\nPer day:\n");
  for (const d of result.days) {
    out.write(`  ${d.day}  ${`${d.repository}:${d.tag}`.padEnd(width)}  ${d.pulls}\n`);
  }
}

// Setup already showed each step as it ran; end with where the registry is.
function renderSetup(report: CheckReport & { changed: boolean }, out: Out): void {
  const skipped = report.checks.filter((c) => c.status === "skip");
  out.write(
    report.ok
      ? `\nRegistry for ${report.isv} is ready at ${report.appUrl}` +
          (report.changed ? "\n" : " (nothing needed changing)\n")
      : `\nSetup of ${report.isv} is incomplete.\n`,
  );
  for (const check of skipped) out.write(`  (${check.name}: ${check.detail})\n`);
}

const MARK: Record<Check["status"], string> = { ok: "✔", fail: "✖", warn: "⚠", skip: "-" };

function renderChecks(report: CheckReport, out: Out): void {
  const width = Math.max(...report.checks.map((c) => c.name.length), 10);
  for (const check of report.checks) {
    out.write(`${MARK[check.status]} ${check.name.padEnd(width)}  ${check.detail}\n`);
    if (check.status === "fail" && check.fix !== undefined) {
      out.write(`  ${" ".repeat(width)}  fix: ${check.fix}\n`);
    }
  }
  if (report.pullUrls.length > 0) {
    out.write(`\nPull URLs:\n${report.pullUrls.map((u) => `  ${u}\n`).join("")}`);
  }
  out.write(`\n${verdict(report.checks)}.\n`);
}
