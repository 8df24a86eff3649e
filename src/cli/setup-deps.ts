import { mkdir } from "node:fs/promises";
import { ensureAppRepo } from "../app/app-repo.js";
import { ensureLocalDeploy, startLocalServer, waitForPing } from "../app/platform-local.js";
import type { SetupDeps } from "../commands/setup.js";
import type { IsvSettings } from "../config/index.js";
import { UserError } from "../errors.js";
import { LocalStore } from "../storage/local.js";
import { S3Store } from "../storage/s3.js";
import type { BlobStore } from "../storage/types.js";
import type { Reporter } from "../ui/reporter.js";
import { unsupportedPlatform } from "./dispatch.js";

/** Wire `setup`'s steps for the ISV's storage kind and platform. */
export async function setupDeps(
  settings: IsvSettings,
  store: BlobStore,
  reporter: Reporter,
): Promise<SetupDeps> {
  const platform = settings.platform;
  if (platform.kind !== "local") throw unsupportedPlatform(settings);
  return {
    appUrl: settings.appUrl,
    ensureStorage: async (create) => {
      if (store instanceof S3Store) {
        if (!(await store.bucketExists())) {
          if (!create) {
            throw new UserError(`the S3 bucket ${store.bucket} does not exist (${store.description})`, {
              hint: `Create it with \`raas setup ${settings.isv} --create\`, or name another with --s3bucket.`,
              code: "S3_NO_SUCH_BUCKET",
            });
          }
          await store.createBucket();
          reporter.info(`Created bucket ${store.bucket}`);
        }
      } else if (store instanceof LocalStore) {
        await mkdir(store.root, { recursive: true });
      }
      await store.probe();
      return `${store.description} (write/read/delete probe passed)`;
    },
    ensureDeployment: async () => {
      await ensureLocalDeploy(settings);
      return `pushes to ${settings.appRemote} deploy to ${settings.deployDir ?? ""}`;
    },
    ensureAppRepo: async () => {
      const result = await ensureAppRepo(settings, { reporter });
      return {
        changed: result.changed,
        remote: settings.appRemote,
        ...(result.commit === undefined ? {} : { commit: result.commit }),
      };
    },
    ensureRunning: async () => {
      // Presigned redirects need the storage credentials; they reach the server only through its environment.
      const storage = settings.storage;
      const env =
        storage.kind === "s3" && storage.redirect === "presigned" && storage.credentials !== undefined
          ? {
              AWS_ACCESS_KEY_ID: storage.credentials.accessKeyId,
              AWS_SECRET_ACCESS_KEY: storage.credentials.secretAccessKey,
              ...(storage.credentials.sessionToken === undefined
                ? {}
                : { AWS_SESSION_TOKEN: storage.credentials.sessionToken }),
            }
          : undefined;
      const status = await startLocalServer(settings, env === undefined ? {} : { env });
      return status.started
        ? `started (pid ${status.pid ?? "?"}) at ${settings.appUrl}, log ${platform.logFile}`
        : `already running (pid ${status.pid ?? "?"}) at ${settings.appUrl}`;
    },
    waitForPing: (timeoutMs) => waitForPing(settings.appUrl, { timeoutMs }),
  };
}
