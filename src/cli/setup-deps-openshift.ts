import { ensureAppRepo } from "../app/app-repo.js";
import { packageRoot } from "../adapters/package-root.js";
import { waitForPing } from "../app/ping.js";
import {
  applyResources,
  ensureProject,
  latestBuild,
  openshiftClient,
  openshiftHealth,
  openshiftPlatform,
  renderResources,
  startBuild,
  storageSecret,
  waitForBuild,
  waitForRollout,
} from "../app/platform-openshift.js";
import type { Check } from "../commands/checks.js";
import type { SetupDeps, StepResult } from "../commands/setup.js";
import type { IsvSettings } from "../config/index.js";
import { errorMessage } from "../errors.js";
import type { Reporter } from "../ui/reporter.js";

/**
 * setup on OpenShift: the project must exist; the app's resources are applied (server-side
 * apply: a second run changes nothing); the app repository is pushed; a build starts only
 * when something changed or the last build did not complete; then the build and the rollout
 * are awaited with progress and a timeout, and finally the route answers the health checks.
 */
export function openshiftSetupDeps(
  settings: IsvSettings,
  reporter: Reporter,
  ensureStorage: (create: boolean) => Promise<StepResult>,
): SetupDeps {
  const platform = openshiftPlatform(settings);
  const client = openshiftClient(settings, (line) => reporter.debug(line));
  const ns = platform.namespace;
  const name = platform.appName;
  let resourcesChanged = false;
  let appChanged = false;
  return {
    appUrl: settings.appUrl,
    localServer: false,
    ensureStorage,
    ensureDeployment: async () => {
      await ensureProject(client, ns);
      const objects = await renderResources(settings, packageRoot());
      const secret = storageSecret(settings);
      if (secret !== undefined) objects.push(secret);
      const applied = await applyResources(client, objects);
      const changed = applied.filter((a) => a.changed);
      resourcesChanged = changed.length > 0;
      return {
        changed: resourcesChanged,
        detail:
          `project ${ns} on ${client.serverUrl}: ${applied.length} resources` +
          (changed.length === 0
            ? " up to date"
            : `, applied ${changed.map((c) => `${c.kind}/${c.name}`).join(", ")}`),
      };
    },
    ensureAppRepo: async () => {
      const result = await ensureAppRepo(settings, { reporter });
      appChanged = result.changed;
      return result;
    },
    ensureRunning: async (timeoutMs, progress) => {
      const last = await latestBuild(client, ns, name);
      const phase = last?.status?.phase;
      const running = phase !== undefined && ["New", "Pending", "Running"].includes(phase);
      let build: string | undefined;
      if (running) build = last?.metadata.name;
      else if (appChanged || resourcesChanged || phase !== "Complete") {
        build = await startBuild(client, ns, name);
      }
      if (build !== undefined) {
        await waitForBuild(client, ns, build, { timeoutMs, progress });
      }
      const replicas = await waitForRollout(client, ns, name, { timeoutMs, progress });
      return {
        changed: build !== undefined,
        detail:
          build === undefined
            ? `deployment ${name} up to date (${replicas} replica(s) available)`
            : `build ${build} complete, ${replicas} replica(s) rolled out`,
      };
    },
    waitForPing: (timeoutMs) =>
      waitForPing(settings.appUrl, { timeoutMs, log: (line) => reporter.debug(line) }),
  };
}

export async function openshiftStatusChecks(settings: IsvSettings, reporter: Reporter): Promise<Check[]> {
  try {
    const client = openshiftClient(settings, (line) => reporter.debug(line));
    const health = await openshiftHealth(client, settings);
    return [
      health.ok
        ? { name: "platform", status: "ok", detail: health.detail }
        : {
            name: "platform",
            status: "fail",
            detail: health.detail,
            fix: `\`raas setup ${settings.isv}\` rebuilds and redeploys the app`,
          },
    ];
  } catch (error) {
    return [
      {
        name: "platform",
        status: "fail",
        detail: errorMessage(error),
        fix: "check [openshift] server_url, the token and the project (`raas setup` explains each failure)",
      },
    ];
  }
}

/**
 * After a push to an OpenShift-hosted app repository: the image the app runs is built from
 * git, so publishing means a new build and a rollout; waits for both with progress.
 */
export function openshiftDeployAfterPush(settings: IsvSettings, reporter: Reporter, timeoutMs: number) {
  return async (): Promise<string> => {
    const platform = openshiftPlatform(settings);
    const client = openshiftClient(settings, (line) => reporter.debug(line));
    const step = reporter.step(`Deploying ${platform.appName} in ${platform.namespace}`);
    const progress = (text: string): void => step.update(text);
    try {
      const build = await startBuild(client, platform.namespace, platform.appName);
      await waitForBuild(client, platform.namespace, build, { timeoutMs, progress });
      const replicas = await waitForRollout(client, platform.namespace, platform.appName, {
        timeoutMs,
        progress,
      });
      const detail = `build ${build} complete, ${replicas} replica(s) rolled out`;
      step.succeed(`Deployed: ${detail}`);
      return detail;
    } catch (error) {
      step.fail(`Deploy failed: ${errorMessage(error)}`);
      throw error;
    }
  };
}
