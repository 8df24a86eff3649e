/**
 * OpenShift as a Platform. setup: the project must exist; the app's resources are applied
 * (server-side apply: a second run changes nothing); the app repository is pushed; a build
 * starts only when something changed or the last build did not complete; then the build and
 * the rollout are awaited with progress and a timeout, and finally the route answers.
 */
import type { IsvSettings, OpenShiftPlatformSettings } from "../config/types.js";
import { errorMessage } from "../errors.js";
import type { Reporter } from "../ui/reporter.js";
import { ensureAppRepo } from "./app-repo.js";
import { authKeyFileText } from "./auth-setup.js";
import { packageRoot } from "../adapters/package-root.js";
import { waitForPing, type ProbeAnswer } from "./ping.js";
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
  authKeySecret,
  waitForBuild,
  waitForRollout,
  type OpenShiftClient,
} from "./platform-openshift.js";
import type { Platform, PlatformCheck, StepResult } from "./platform.js";

export class OpenShiftPlatform implements Platform {
  readonly kind = "openshift";
  readonly localServer = false;
  readonly appUrl: string;
  private readonly platform: OpenShiftPlatformSettings;
  private clientOnce: OpenShiftClient | undefined;
  private resourcesChanged = false;
  private appChanged = false;

  constructor(
    private readonly settings: IsvSettings,
    private readonly reporter: Reporter,
  ) {
    this.platform = openshiftPlatform(settings);
    this.appUrl = settings.appUrl;
  }

  /** Created on first use: a missing token is an error only for what talks to the cluster. */
  private get client(): OpenShiftClient {
    this.clientOnce ??= openshiftClient(this.settings, (line) => this.reporter.debug(line));
    return this.clientOnce;
  }

  /** The app remote is a hosted git repository and the project is the admin's: setup checks both. */
  notSetUp(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  async ensureDeployment(): Promise<StepResult> {
    const { client } = this;
    const ns = this.platform.namespace;
    await ensureProject(client, ns);
    const objects = await renderResources(this.settings, packageRoot());
    const secret = storageSecret(this.settings);
    if (secret !== undefined) objects.push(secret);
    const keys = await authKeyFileText(this.settings);
    if (keys !== undefined) objects.push(authKeySecret(this.settings, keys));
    const applied = await applyResources(client, objects);
    const changed = applied.filter((a) => a.changed);
    this.resourcesChanged = changed.length > 0;
    return {
      changed: this.resourcesChanged,
      detail:
        `project ${ns} on ${client.serverUrl}: ${applied.length} resources` +
        (changed.length === 0
          ? " up to date"
          : `, applied ${changed.map((c) => `${c.kind}/${c.name}`).join(", ")}`),
    };
  }

  async ensureAppRepo(): Promise<{ changed: boolean; commit?: string; remote: string }> {
    const result = await ensureAppRepo(this.settings, { reporter: this.reporter });
    this.appChanged = result.changed;
    return result;
  }

  async ensureRunning(timeoutMs: number, progress: (text: string) => void): Promise<StepResult> {
    const { client } = this;
    const { namespace: ns, appName: name } = this.platform;
    const last = await latestBuild(client, ns, name);
    const phase = last?.status?.phase;
    const running = phase !== undefined && ["New", "Pending", "Running"].includes(phase);
    let build: string | undefined;
    if (running) build = last?.metadata.name;
    else if (this.appChanged || this.resourcesChanged || phase !== "Complete") {
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
  }

  waitForPing(timeoutMs: number): Promise<ProbeAnswer> {
    return waitForPing(this.settings.appUrl, {
      timeoutMs,
      log: (line) => this.reporter.debug(line),
      isv: this.settings.isv,
    });
  }

  /**
   * After a push: the image the app runs is built from git, so publishing means a new build and
   * a rollout; waits for both with progress.
   */
  readonly deployAfterPublish = async (timeoutMs: number): Promise<string> => {
    const { namespace, appName } = this.platform;
    const step = this.reporter.step(`Deploying ${appName} in ${namespace}`);
    const progress = (text: string): void => step.update(text);
    try {
      const build = await startBuild(this.client, namespace, appName);
      await waitForBuild(this.client, namespace, build, { timeoutMs, progress });
      const replicas = await waitForRollout(this.client, namespace, appName, { timeoutMs, progress });
      const detail = `build ${build} complete, ${replicas} replica(s) rolled out`;
      step.succeed(`Deployed: ${detail}`);
      return detail;
    } catch (error) {
      step.fail(`Deploy failed: ${errorMessage(error)}`);
      throw error;
    }
  };

  async statusChecks(): Promise<PlatformCheck[]> {
    const isv = this.settings.isv;
    try {
      const health = await openshiftHealth(this.client, this.settings);
      return [
        health.ok
          ? { name: "platform", status: "ok", detail: health.detail }
          : {
              name: "platform",
              status: "fail",
              detail: health.detail,
              fix: `\`raas setup ${isv}\` rebuilds and redeploys the app`,
            },
      ];
    } catch (error) {
      return [
        {
          name: "platform",
          status: "fail",
          detail: errorMessage(error),
          fix: `check [openshift] server_url, the token and the project (\`raas setup ${isv}\` explains each failure)`,
        },
      ];
    }
  }
}
