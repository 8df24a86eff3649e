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

/** The platform-specific steps of setup, wired by the CLI from configuration. */
export interface SetupDeps {
  appUrl: string;
  /** Make sure storage exists and works (creating the bucket when allowed); returns a description. */
  ensureStorage(create: boolean): Promise<string>;
  /** Make sure the app remote exists and pushes deploy (local: bare repo + deploy hook). */
  ensureDeployment(): Promise<string>;
  /** Render the app repository from templates, commit and push when it changed. */
  ensureAppRepo(): Promise<{ changed: boolean; commit?: string; remote: string }>;
  /** Start the registry if it is not running (local platform); describes what it did. */
  ensureRunning?(): Promise<string>;
  /** Wait until /v1/_ping and /v2/ answer. */
  waitForPing(timeoutMs: number): Promise<void>;
}

/**
 * Create or repair everything an ISV needs, in dependency order, and prove it works.
 * Each step is idempotent, so running setup again repairs what is missing and changes nothing else.
 */
export async function setup(
  options: SetupOptions,
  ctx: CommandContext,
  deps: SetupDeps,
): Promise<CheckReport> {
  const checks = new CheckList();
  const { reporter } = ctx;

  await run(reporter, "Storage", async () => checks.ok("storage", await deps.ensureStorage(options.create)));
  await run(reporter, "Deployment", async () => checks.ok("deployment", await deps.ensureDeployment()));
  await run(reporter, "App repository", async () => {
    const app = await deps.ensureAppRepo();
    return checks.ok(
      "app repository",
      app.changed
        ? `${app.remote} updated (${app.commit?.slice(0, 12) ?? "no commit"})`
        : `${app.remote} up to date`,
    );
  });
  if (deps.ensureRunning !== undefined && options.start) {
    const ensureRunning = deps.ensureRunning;
    await run(reporter, "Registry server", async () => checks.ok("registry server", await ensureRunning()));
  }
  if (options.start || deps.ensureRunning === undefined) {
    await run(reporter, `Health check ${deps.appUrl}`, async () => {
      await deps.waitForPing(options.timeoutSeconds * 1000);
      return checks.ok("health", `${deps.appUrl}/v1/_ping answers true, /v2/ answers 200`);
    });
  } else {
    checks.add({ name: "health", status: "skip", detail: "server not started (--no-start)" });
  }
  return { isv: options.isv, ok: checks.passed, checks: checks.checks, appUrl: deps.appUrl, pullUrls: [] };
}

async function run(
  reporter: Reporter,
  title: string,
  work: () => Promise<{ detail: string }>,
): Promise<void> {
  const step = reporter.step(title);
  try {
    const check = await work();
    step.succeed(`${title}: ${check.detail}`);
  } catch (error) {
    step.fail(`${title}: ${errorMessage(error)}`);
    throw error;
  }
}
