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
