import { ensureAppRepo } from "../app/app-repo.js";
import {
  ensureLocalDeploy,
  localServerStatus,
  startLocalServer,
  stopLocalServer,
  waitForPing,
} from "../app/platform-local.js";
import type { SetupDeps } from "../commands/setup.js";
import type { Check } from "../commands/checks.js";
import { PROBE_PREFIX } from "../commands/status-storage.js";
import type { IsvSettings } from "../config/index.js";
import { UserError, errorMessage } from "../errors.js";
import { LocalStore } from "../storage/local.js";
import type { Store } from "./dispatch.js";
import type { Reporter } from "../ui/reporter.js";
import { openshiftSetupDeps, openshiftStatusChecks } from "./setup-deps-openshift.js";
import { mkdir, readFile, stat } from "node:fs/promises";

/** Wire `setup`'s steps for the ISV's storage kind and platform. */
export async function setupDeps(settings: IsvSettings, store: Store, reporter: Reporter): Promise<SetupDeps> {
  const ensureStorage = (create: boolean) => ensureStorageReady(settings, store, reporter, create);
  if (settings.platform.kind === "openshift") return openshiftSetupDeps(settings, reporter, ensureStorage);
  const platform = settings.platform;
  let appChanged = false;
  return {
    appUrl: settings.appUrl,
    localServer: true,
    ensureStorage,
    ensureDeployment: async () => {
      const existed = await stat(settings.appRemote).then(
        () => true,
        () => false,
      );
      const deploy = await ensureLocalDeploy(settings);
      const what = !deploy.changed ? "" : existed ? "repaired: " : "created: ";
      return {
        changed: deploy.changed,
        detail: `${what}pushes to ${settings.appRemote} deploy to ${deploy.deployDir}`,
      };
    },
    ensureAppRepo: async () => {
      const result = await ensureAppRepo(settings, { reporter });
      appChanged = result.changed;
      return result;
    },
    ensureRunning: async () => {
      // A server started before the app repository changed (a raas upgrade, a new registry.conf)
      // still runs the old code and configuration: replace it.
      const before = await localServerStatus(settings);
      // A pid file whose process is gone: the server was killed or the machine rebooted.
      const lost = before.pid === undefined ? await readPidFile(platform.pidFile) : undefined;
      const restarted = appChanged && before.pid !== undefined ? await stopLocalServer(settings) : undefined;
      const status = await startLocalServer(settings, { env: serverEnv(settings) });
      const pid = status.pid ?? "?";
      if (!status.started) {
        return { changed: false, detail: `already running (pid ${pid}) at ${settings.appUrl}` };
      }
      const why =
        restarted !== undefined
          ? `restarted for the new app version (pid ${restarted} -> ${pid})`
          : before.pid !== undefined
            ? `restarted: pid ${before.pid} did not answer (${before.problem ?? "unhealthy"}); now pid ${pid}`
            : lost !== undefined
              ? `restarted: the server process ${lost} was gone; now pid ${pid}`
              : `started (pid ${pid})`;
      return { changed: true, detail: `${why} at ${settings.appUrl}, log ${platform.logFile}` };
    },
    waitForPing: (timeoutMs) =>
      waitForPing(settings.appUrl, {
        timeoutMs,
        logFile: platform.logFile,
        log: (line) => reporter.debug(line),
      }),
  };
}

async function readPidFile(file: string): Promise<number | undefined> {
  const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
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

/**
 * Storage exists (HeadBucket; created with --create), probe objects an interrupted run left
 * behind are removed, and a write/read/delete probe proves the credentials.
 */
async function ensureStorageReady(
  settings: IsvSettings,
  store: Store,
  reporter: Reporter,
  create: boolean,
): Promise<{ changed: boolean; detail: string }> {
  let changed = false;
  const notes: string[] = [];
  if (!(store instanceof LocalStore)) {
    if (!(await store.bucketExists())) {
      if (!create) {
        throw new UserError(`the S3 bucket ${store.bucket} does not exist (${store.description})`, {
          hint: `Create it with \`raas setup ${settings.isv} --create\`, or name another with --s3bucket.`,
          code: "S3_NO_SUCH_BUCKET",
        });
      }
      await store.createBucket();
      reporter.info(`Created bucket ${store.bucket}`);
      notes.push("bucket created");
      changed = true;
    }
  } else if (store instanceof LocalStore) {
    await mkdir(store.root, { recursive: true });
  }
  const leftovers: string[] = [];
  for await (const object of store.list(PROBE_PREFIX)) leftovers.push(object.key);
  for (const key of leftovers) await store.delete(key);
  if (leftovers.length > 0) {
    notes.push(`removed ${leftovers.length} leftover probe object(s)`);
    changed = true;
  }
  await store.probe();
  const storage = settings.storage;
  const mode =
    storage.kind === "s3"
      ? storage.redirect === "presigned"
        ? `, presigned redirects (${storage.presignTtl} s)`
        : `, public-read redirects${storage.publicRead ? "" : " (objects not marked public-read: the bucket policy must allow reads)"}`
      : "";
  return {
    changed,
    detail: `${store.description}${mode} (write/read/delete probe passed${notes.length > 0 ? `; ${notes.join(", ")}` : ""})`,
  };
}

/** Platform checks for `raas status`: the OpenShift project and rollout, or the local server process. */
export async function platformChecks(settings: IsvSettings, reporter: Reporter): Promise<Check[]> {
  if (settings.platform.kind === "openshift") return openshiftStatusChecks(settings, reporter);
  const status = await localServerStatus(settings);
  if (status.pid !== undefined) {
    return [{ name: "platform", status: "ok", detail: `local server process ${status.pid} is running` }];
  }
  return [
    {
      name: "platform",
      status: "fail",
      detail: `the local registry server is stopped (${status.problem ?? "no server process"}; pid file ${settings.platform.pidFile})`,
      fix: `\`raas setup ${settings.isv}\` starts it again (or run it in the foreground with \`raas serve ${settings.isv}\`)`,
    },
  ];
}

/** For `raas status`: the bucket answers HeadBucket. */
export async function storageCheck(store: Store): Promise<Check> {
  if (store instanceof LocalStore) return { name: "storage", status: "ok", detail: store.description };
  try {
    return (await store.bucketExists())
      ? { name: "storage", status: "ok", detail: `${store.description}: bucket exists` }
      : {
          name: "storage",
          status: "fail",
          detail: `the bucket ${store.bucket} does not exist (${store.description})`,
          fix: "run `raas setup <isv> --create`",
        };
  } catch (error) {
    return {
      name: "storage",
      status: "fail",
      detail: errorMessage(error),
      fix: "check the storage credentials and endpoint",
    };
  }
}
