import { errorMessage } from "../errors.js";
import type { Reporter } from "../ui/reporter.js";
import { CheckList, type CheckReport } from "./checks.js";
import type { CommandContext } from "./types.js";

export interface SetupOptions {
  isv: string;
  create: boolean;
  start: boolean;
  timeoutSeconds: number;
}

/** What a step did: `changed` is false when everything was already as it should be. */
export interface StepResult {
  changed: boolean;
  detail: string;
}

/** The platform-specific steps of setup, wired by the CLI from configuration. */
export interface SetupDeps {
  appUrl: string;
  /** Local platform: the server runs on this machine and --no-start may leave it stopped. */
  localServer: boolean;
  /** Make sure storage exists and works (creating the bucket when allowed). */
  ensureStorage(create: boolean): Promise<StepResult>;
  /** Make sure the platform is ready for the app (local: bare repo + deploy hook; OpenShift: project + resources). */
  ensureDeployment(): Promise<StepResult>;
  /** Render the app repository from templates, commit and push when it changed. */
  ensureAppRepo(): Promise<{ changed: boolean; commit?: string; remote: string }>;
  /** Run the current app version (local: start or restart the server; OpenShift: build and roll out). */
  ensureRunning?(timeoutMs: number, progress: (text: string) => void): Promise<StepResult>;
  /** Wait until /v1/_ping and /v2/ answer. */
  waitForPing(timeoutMs: number): Promise<void>;
}

/**
 * Create or repair everything an ISV needs, in dependency order, and prove it works.
 * Each step is idempotent, so running setup again repairs what is missing and changes nothing
 * else; the report's `changed` says whether anything had to be done.
 */
export async function setup(
  options: SetupOptions,
  ctx: CommandContext,
  deps: SetupDeps,
): Promise<CheckReport & { changed: boolean }> {
  const checks = new CheckList();
  const { reporter } = ctx;
  let changed = false;
  const record = (name: string, result: StepResult) => {
    changed ||= result.changed;
    return checks.ok(name, result.detail);
  };
  const timeoutMs = options.timeoutSeconds * 1000;

  await run(reporter, "Storage", async () => record("storage", await deps.ensureStorage(options.create)));
  await run(reporter, "Deployment", async () => record("deployment", await deps.ensureDeployment()));
  await run(reporter, "App repository", async () => {
    const app = await deps.ensureAppRepo();
    return record("app repository", {
      changed: app.changed,
      detail: app.changed
        ? `${app.remote} updated (${app.commit?.slice(0, 12) ?? "no commit"})`
        : `${app.remote} up to date`,
    });
  });
  const start = options.start || !deps.localServer;
  if (deps.ensureRunning !== undefined && start) {
    const ensureRunning = deps.ensureRunning;
    const title = deps.localServer ? "Registry server" : "Build and rollout";
    await run(reporter, title, async (progress) =>
      record(deps.localServer ? "registry server" : "rollout", await ensureRunning(timeoutMs, progress)),
    );
  }
  if (start) {
    await run(reporter, `Health check ${deps.appUrl}`, async () => {
      await deps.waitForPing(timeoutMs);
      return checks.ok("health", `${deps.appUrl}/v1/_ping answers true, /v2/ answers 200`);
    });
  } else {
    checks.add({ name: "health", status: "skip", detail: "server not started (--no-start)" });
  }
  return {
    isv: options.isv,
    ok: checks.passed,
    changed,
    checks: checks.checks,
    appUrl: deps.appUrl,
    pullUrls: [],
  };
}

async function run(
  reporter: Reporter,
  title: string,
  work: (progress: (text: string) => void) => Promise<{ detail: string }>,
): Promise<void> {
  const step = reporter.step(title);
  try {
    const check = await work((text) => step.update(`${title}: ${text}`));
    step.succeed(`${title}: ${check.detail}`);
  } catch (error) {
    step.fail(`${title}: ${errorMessage(error)}`);
    throw error;
  }
}
