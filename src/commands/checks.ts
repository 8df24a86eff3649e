import type { Platform } from "../app/platform.js";
import { UserError } from "../errors.js";

/** The report shape shared by `setup` and `status`: a list of checks, each with what to do on failure. */
export interface Check {
  name: string;
  status: "ok" | "fail" | "warn" | "skip";
  detail: string;
  /** What the user can do about a failure. */
  fix?: string;
}

export interface CheckReport {
  isv: string;
  ok: boolean;
  checks: Check[];
  appUrl: string;
  pullUrls: string[];
}

export class CheckList {
  readonly checks: Check[] = [];

  add(check: Check): Check {
    this.checks.push(check);
    return check;
  }
  ok(name: string, detail: string): Check {
    return this.add({ name, status: "ok", detail });
  }
  fail(name: string, detail: string, fix?: string): Check {
    return this.add(
      fix === undefined ? { name, status: "fail", detail } : { name, status: "fail", detail, fix },
    );
  }
  warn(name: string, detail: string): Check {
    return this.add({ name, status: "warn", detail });
  }
  get passed(): boolean {
    return this.checks.every((c) => c.status !== "fail");
  }
}

/**
 * The one-line verdict over a report's checks. "All checks passed" only when every check is ✔:
 * a warning (something not looked at, or left for gc) or a skipped check is counted and said,
 * never folded into a pass. Whether the report is `ok` (exit code 0) is `CheckList.passed`.
 */
export function verdict(checks: readonly Check[]): string {
  const count = (status: Check["status"]) => checks.filter((c) => c.status === status).length;
  const [failed, warned, skipped] = [count("fail"), count("warn"), count("skip")];
  const others = [
    ...(warned > 0 ? [`${warned} warning(s)`] : []),
    ...(skipped > 0 ? [`${skipped} skipped`] : []),
  ];
  if (failed > 0) return [`${failed} check(s) failed`, ...others].join(", ");
  return others.length === 0 ? "All checks passed" : `No failures, ${others.join(", ")}`;
}

/** Push and status on an ISV that was never set up: say so, and what to run, instead of failing deep inside. */
export async function requireSetUp(isv: string, platform: Platform): Promise<void> {
  const reason = await platform.notSetUp();
  if (reason === undefined) return;
  throw new UserError(`${isv} is not set up: ${reason}`, {
    hint: `Run \`raas setup ${isv}\` first.`,
    code: "NOT_SET_UP",
  });
}
