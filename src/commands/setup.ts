import type { Platform, StepResult } from "../app/platform.js";
import { describeHealthy } from "../app/ping.js";
import { UserError, errorMessage } from "../errors.js";
import { PARTIAL_WRITE_GRACE_MS, type BlobStore } from "../storage/types.js";
import type { Reporter } from "../ui/reporter.js";
import { CheckList, type CheckReport } from "./checks.js";
import { ensureAnonymousReads } from "./setup-public.js";
import type { CommandContext } from "./types.js";

export interface SetupOptions {
  isv: string;
  create: boolean;
  start: boolean;
  timeoutSeconds: number;
}

export type { StepResult } from "../app/platform.js";

export interface SetupDeps {
  store: BlobStore;
  platform: Platform;
  /** How clients reach blobs, for the storage line (e.g. `, presigned redirects (1200 s)`). */
  redirectNote: string;
  /**
   * Public redirects straight to storage URLs: objects must be readable anonymously;
   * `publicRead` says whether raas marks them so (else a bucket policy must allow it).
   */
  publicRedirects?: { publicRead: boolean };
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

  const { platform } = deps;
  await run(reporter, "Storage", async () => record("storage", await ensureStorage(options, deps, reporter)));
  await run(reporter, "Deployment", async () => record("deployment", await platform.ensureDeployment()));
  const { ensureTls } = platform;
  if (ensureTls !== undefined) {
    await run(reporter, "TLS certificate", async () => record("tls", await ensureTls()));
  }
  await run(reporter, "App repository", async () => {
    const app = await platform.ensureAppRepo();
    return record("app repository", {
      changed: app.changed,
      detail: app.changed
        ? `${app.remote} updated (${app.commit?.slice(0, 12) ?? "no commit"})`
        : `${app.remote} up to date`,
    });
  });
  const start = options.start || !platform.localServer;
  if (start) {
    const title = platform.localServer ? "Registry server" : "Build and rollout";
    await run(reporter, title, async (progress) =>
      record(
        platform.localServer ? "registry server" : "rollout",
        await platform.ensureRunning(timeoutMs, progress),
      ),
    );
    await run(reporter, `Health check ${platform.appUrl}`, async () => {
      // What the registry answered, not what a healthy one usually does: with [auth] /v2/ is a 401.
      const answer = await platform.waitForPing(timeoutMs);
      return checks.ok("health", `${platform.appUrl}${describeHealthy(answer)}`);
    });
  } else {
    checks.add({ name: "health", status: "skip", detail: "server not started (--no-start)" });
  }
  return {
    isv: options.isv,
    ok: checks.passed,
    changed,
    checks: checks.checks,
    appUrl: platform.appUrl,
    pullUrls: [],
  };
}

/**
 * Storage exists (created when the store may create it, or with --create), what interrupted
 * runs left behind is removed (probe objects; partial writes past the grace period), and a
 * write/read/delete probe proves the credentials.
 */
async function ensureStorage(
  options: SetupOptions,
  deps: SetupDeps,
  reporter: Reporter,
): Promise<StepResult> {
  const { store, redirectNote } = deps;
  let changed = false;
  const notes: string[] = [];
  if (!(await store.exists())) {
    if (store.createNeedsConsent && !options.create) {
      throw new UserError(`${store.container} does not exist (${store.description})`, {
        hint: `Create it with \`raas setup ${options.isv} --create\`, or name another with --s3bucket.`,
        code: "S3_NO_SUCH_BUCKET",
      });
    }
    await store.create();
    if (store.createNeedsConsent) {
      reporter.info(`Created ${store.container}`);
      notes.push("bucket created");
      changed = true;
    }
  }
  const probes = await store.removeLeftoverProbes();
  if (probes > 0) {
    notes.push(`removed ${probes} leftover probe object(s)`);
    changed = true;
  }
  const partial = await store.removePartialWrites(PARTIAL_WRITE_GRACE_MS);
  if (partial > 0) {
    notes.push(`removed ${partial} partial write(s) left by an interrupted push`);
    changed = true;
  }
  await store.probe();
  if (deps.publicRedirects !== undefined) {
    const repaired = await ensureAnonymousReads(store, { isv: options.isv, ...deps.publicRedirects });
    if (repaired !== undefined) {
      notes.push(repaired);
      changed = true;
    }
  }
  return {
    changed,
    detail: `${store.description}${redirectNote} (write/read/delete probe passed${notes.length > 0 ? `; ${notes.join(", ")}` : ""})`,
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
