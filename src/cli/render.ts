import type { PushResult } from "../commands/push.js";
import type { StatsResult } from "../commands/stats.js";
import type { Check, CheckReport } from "../commands/checks.js";
import { formatBytes } from "../publish/upload.js";
import { ExitCode } from "./exit-codes.js";
import type { GlobalOptions, Invocation } from "./program.js";

interface Out {
  write(text: string): void;
}

export type CommandResult = PushResult | CheckReport | StatsResult | { served: string };

/** Turn a command's result into output and an exit code: text, --terse pull URLs, or --json. */
export function render(
  command: Invocation["command"],
  result: CommandResult,
  globals: GlobalOptions,
  out: Out,
): number {
  const ok = !("checks" in result) || result.ok;
  if (globals.json) {
    out.write(`${JSON.stringify({ ok, command, ...result }, null, 2)}\n`);
    return ok ? ExitCode.ok : ExitCode.failure;
  }
  if (globals.terse) {
    for (const url of pullUrls(result)) out.write(`${url}\n`);
    return ok ? ExitCode.ok : ExitCode.failure;
  }
  if ("images" in result) renderPush(result, out);
  else if ("totals" in result) renderStats(result, out);
  else if ("checks" in result && command === "setup") renderSetup(result, out);
  else if ("checks" in result) renderChecks(result, out);
  return ok ? ExitCode.ok : ExitCode.failure;
}

function pullUrls(result: CommandResult): string[] {
  if ("images" in result) return result.images.flatMap((i) => i.pullUrls);
  if ("checks" in result) return result.pullUrls;
  return [];
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
  const first = result.images[0]?.pullUrls[0];
  if (first !== undefined) {
    out.write(
      `\nPull it with:\n` +
        `  skopeo copy --src-tls-verify=false docker://${first} oci:./image\n` +
        `  podman pull --tls-verify=false ${first}\n`,
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
function renderSetup(report: CheckReport, out: Out): void {
  const skipped = report.checks.filter((c) => c.status === "skip");
  out.write(
    report.ok
      ? `\nRegistry for ${report.isv} is ready at ${report.appUrl}` +
          ("changed" in report && report.changed === false ? " (nothing needed changing)\n" : "\n")
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
  out.write(
    report.ok
      ? `\nAll checks passed.\n`
      : `\n${report.checks.filter((c) => c.status === "fail").length} check(s) failed.\n`,
  );
}
