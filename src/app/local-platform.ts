/**
 * The local platform as a Platform: setup creates the bare app remote with its deploy hook,
 * pushes the app repository, and starts (or replaces) the background server; `raas serve`
 * runs the same server in the foreground, leaving a marker so `raas status` knows who serves.
 */
import { access, readFile, rm, stat, writeFile } from "node:fs/promises";
import * as path from "node:path";
import type { IsvSettings, LocalPlatformSettings } from "../config/types.js";
import { UserError } from "../errors.js";
import { isJsonObject } from "../image/records.js";
import type { Reporter } from "../ui/reporter.js";
import { ensureAppRepo } from "./app-repo.js";
import { isAlive } from "../adapters/exec.js";
import {
  ensureLocalDeploy,
  localPlatform,
  localServerStatus,
  startLocalServer,
  stopLocalServer,
  waitForPing,
} from "./platform-local.js";
import { ensureLocalTls } from "./local-tls.js";
import { catchUp, pingProblem, registryIdentity, type ProbeAnswer } from "./ping.js";
import { branchCommit } from "../adapters/git.js";
import { trustFor } from "./registry-http.js";
import type { ForegroundServe, Platform, PlatformCheck, StepResult } from "./platform.js";

/** What `raas serve` leaves in the ISV's folder while it serves. */
interface ForegroundMarker {
  pid: number;
  url: string;
}

export class LocalPlatform implements Platform {
  readonly kind = "local";
  readonly localServer = true;
  readonly appUrl: string;
  private readonly platform: LocalPlatformSettings;
  private appChanged = false;
  private tlsChanged = false;

  constructor(
    private readonly settings: IsvSettings,
    private readonly reporter: Reporter,
  ) {
    this.platform = localPlatform(settings);
    this.appUrl = settings.appUrl;
  }

  private get markerFile(): string {
    return path.join(this.platform.dir, "serve.json");
  }

  async notSetUp(): Promise<string | undefined> {
    const exists = await access(this.settings.appRemote).then(
      () => true,
      () => false,
    );
    return exists ? undefined : `there is no app repository at ${this.settings.appRemote}`;
  }

  async ensureDeployment(): Promise<StepResult> {
    const existed = await stat(this.settings.appRemote).then(
      () => true,
      () => false,
    );
    const deploy = await ensureLocalDeploy(this.settings);
    const what = !deploy.changed ? "" : existed ? "repaired: " : "created: ";
    return {
      changed: deploy.changed,
      detail: `${what}pushes to ${this.settings.appRemote} deploy to ${deploy.deployDir}`,
    };
  }

  readonly ensureTls = async (): Promise<StepResult> => {
    const result = await ensureLocalTls(this.settings);
    this.tlsChanged = result.changed;
    return result;
  };

  async ensureAppRepo(): Promise<{ changed: boolean; commit?: string; remote: string }> {
    const result = await ensureAppRepo(this.settings, { reporter: this.reporter });
    this.appChanged = result.changed;
    return result;
  }

  async ensureRunning(): Promise<StepResult> {
    const { settings, platform } = this;
    // A server started before the app repository changed (a raas upgrade, a new registry.conf)
    // still runs the old code and configuration: replace it.
    const before = await localServerStatus(settings);
    // A pid file whose process is gone: the server was killed or the machine rebooted.
    const lost = before.pid === undefined ? await readPidFile(platform.pidFile) : undefined;
    // Likewise a server that still serves a certificate setup has just renewed, and one that
    // serves an older commit than the branch and does not catch up once notified (its copy of
    // the repository is broken, or its follow loop is stuck): status tells the user to run setup.
    const stale =
      before.running && !this.appChanged && !this.tlsChanged ? await this.staleCommit() : undefined;
    const replace = this.appChanged || this.tlsChanged || stale !== undefined;
    const restarted = replace && before.pid !== undefined ? await stopLocalServer(settings) : undefined;
    const status = await startLocalServer(settings, { env: serverEnv(settings) });
    const pid = status.pid ?? "?";
    if (!status.started) {
      return { changed: false, detail: `already running (pid ${pid}) at ${settings.appUrl}` };
    }
    const reason = this.appChanged
      ? "for the new app version"
      : this.tlsChanged
        ? "for the new certificate"
        : stale;
    const why =
      restarted !== undefined
        ? `restarted ${reason} (pid ${restarted} -> ${pid})`
        : before.pid !== undefined
          ? `restarted: pid ${before.pid} did not answer (${before.problem ?? "unhealthy"}); now pid ${pid}`
          : lost !== undefined
            ? `restarted: the server process ${lost} was gone; now pid ${pid}`
            : `started (pid ${pid})`;
    return { changed: true, detail: `${why} at ${settings.appUrl}, log ${platform.logFile}` };
  }

  /** Why a running, healthy server must be replaced for serving a stale commit; undefined when current. */
  private async staleCommit(): Promise<string | undefined> {
    const { settings } = this;
    const head = await branchCommit(settings.appRemote, settings.appBranch);
    if (head === undefined) return undefined;
    const served = await catchUp(settings.appUrl, head, (await trustFor(settings)).fetch);
    if (served === undefined) return undefined;
    return `as it served commit ${served.slice(0, 12)} while ${settings.appBranch} is at ${head.slice(0, 12)}, and did not catch up once notified`;
  }

  async waitForPing(timeoutMs: number): Promise<ProbeAnswer> {
    return waitForPing(this.settings.appUrl, {
      fetch: (await trustFor(this.settings)).fetch,
      timeoutMs,
      logFile: this.platform.logFile,
      log: (line) => this.reporter.debug(line),
      isv: this.settings.isv,
    });
  }

  async statusChecks(): Promise<PlatformCheck[]> {
    const { settings } = this;
    const status = await localServerStatus(settings);
    if (status.pid !== undefined) {
      return [{ name: "platform", status: "ok", detail: `local server process ${status.pid} is running` }];
    }
    const foreground = await this.foreground();
    if (foreground !== undefined) {
      return [
        {
          name: "platform",
          status: "ok",
          detail: `served in the foreground by \`raas serve ${settings.isv}\` (pid ${foreground.pid}) at ${foreground.url}`,
        },
      ];
    }
    return [
      {
        name: "platform",
        status: "fail",
        detail: `the local registry server is stopped (${status.problem ?? "no server process"}; pid file ${this.platform.pidFile})`,
        fix: `\`raas setup ${settings.isv}\` starts it again (or run it in the foreground with \`raas serve ${settings.isv}\`)`,
      },
    ];
  }

  /** The `raas serve` of this ISV, if its process lives and its server answers as this ISV's. */
  private async foreground(): Promise<ForegroundMarker | undefined> {
    const marker = await readMarker(this.markerFile);
    if (marker === undefined || !isAlive(marker.pid)) return undefined;
    const { fetch } = await trustFor(this.settings);
    if ((await pingProblem(marker.url, 2000, undefined, fetch)) !== undefined) return undefined;
    const isv = await registryIdentity(marker.url, 2000, fetch).catch(() => undefined);
    return isv === this.settings.isv ? marker : undefined;
  }

  readonly serveForeground = async (options: {
    host?: string;
    port?: number;
    reporter: Reporter;
  }): Promise<ForegroundServe> => {
    const { settings, platform } = this;
    const configPath = path.join(platform.deployDir, "registry.conf");
    try {
      await access(configPath);
    } catch {
      throw new UserError(`${settings.isv} has no deployed registry at ${platform.deployDir}`, {
        hint: `Run \`raas setup ${settings.isv}\` first.`,
        code: "NOT_SET_UP",
      });
    }
    const { startRegistryServer } = await import("../server/start.js");
    const { reporter } = options;
    const registry = await startRegistryServer({
      configPath,
      host: options.host ?? platform.host,
      port: options.port ?? platform.port,
      log: (record) => {
        if (record.event === "request") reporter.debug(JSON.stringify(record));
        else if (record.level === "error" || record.level === "warn") {
          reporter.warn(String(record.message ?? JSON.stringify(record)));
        } else reporter.debug(JSON.stringify(record));
      },
    });
    const marker: ForegroundMarker = { pid: process.pid, url: registry.url };
    await writeFile(this.markerFile, `${JSON.stringify(marker)}\n`);
    return {
      url: registry.url,
      close: async () => {
        try {
          await registry.close();
        } finally {
          await rm(this.markerFile, { force: true });
        }
      },
    };
  };
}

async function readPidFile(file: string): Promise<number | undefined> {
  const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function readMarker(file: string): Promise<ForegroundMarker | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, "utf8"));
    if (!isJsonObject(parsed)) return undefined;
    const { pid, url } = parsed;
    return typeof pid === "number" && Number.isInteger(pid) && pid > 0 && typeof url === "string"
      ? { pid, url }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Presigned redirects need the storage credentials; they reach the server only through its environment. */
function serverEnv(settings: IsvSettings): Record<string, string> {
  const storage = settings.storage;
  if (storage.kind !== "s3" || storage.redirect !== "presigned" || storage.credentials === undefined) {
    return {};
  }
  const { accessKeyId, secretAccessKey, sessionToken } = storage.credentials;
  return {
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    ...(sessionToken === undefined ? {} : { AWS_SESSION_TOKEN: sessionToken }),
  };
}
