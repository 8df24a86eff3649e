/**
 * The one place a command's context is built from configuration: the ISV's settings, its
 * store and platform (each behind its interface, its module loaded only when used), the app
 * repository, the vendor metadata, the reporter and the stop signal. `dispose` releases
 * whatever was opened.
 */
import path from "node:path";
import { openPlatform, type Platform } from "../app/platform.js";
import type { AppRepository } from "../app/app-repository.js";
import type { IsvSettings, LoadedConfig } from "../config/index.js";
import { descriptorCachePath, Federation } from "../federation/index.js";
import type { BlobStore } from "../storage/types.js";
import { publicObjectUrl } from "../storage/s3-url.js";
import type { Reporter } from "../ui/reporter.js";

export interface IsvContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
  reporter: Reporter;
  signal: AbortSignal;
  settings: IsvSettings;
  platform: Platform;
  /** The ISV's store, opened on first use. */
  store(): Promise<BlobStore>;
  /** A new handle on the ISV's app repository; the caller closes it. */
  app(): Promise<AppRepository & { close(): Promise<void> }>;
  /** Vendor metadata from the config directory and `[redhat] metadata_repo`, and the descriptor cache. */
  federation(): Promise<Federation>;
  /** Crane's `url`: where `<repository>/` lives, so `<url>blobs/<digest>` is a blob's address. */
  repositoryUrl(repository: string): string;
  /** For setup's storage line: how clients reach blobs. */
  redirectNote: string;
  /** Public redirects to plain storage URLs (no CDN base URL): objects must be anonymously readable. */
  publicRedirects: { publicRead: boolean } | undefined;
  dispose(): Promise<void>;
}

export async function buildContext(options: {
  config: LoadedConfig;
  settings: IsvSettings;
  reporter: Reporter;
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}): Promise<IsvContext> {
  const { config, settings, reporter } = options;
  const platform = await openPlatform(settings, reporter);
  let opened: Promise<BlobStore> | undefined;
  return {
    cwd: options.cwd,
    env: options.env,
    reporter,
    signal: options.signal,
    settings,
    platform,
    store: () => (opened ??= openEnvironmentStore(settings, reporter)),
    app: async () => {
      const { GitAppRepository } = await import("../app/app-transaction.js");
      return new GitAppRepository({
        remote: settings.appRemote,
        branch: settings.appBranch,
        reporter,
        objectCache: path.join(settings.isvDir, "app-objects.git"),
      });
    },
    federation: () => loadFederation(config, reporter),
    repositoryUrl: (repository) => repositoryUrl(settings, repository),
    redirectNote: redirectNote(settings),
    publicRedirects:
      settings.storage.kind === "s3" &&
      settings.storage.redirect === "public" &&
      settings.storage.publicBaseUrl === undefined
        ? { publicRead: settings.storage.publicRead }
        : undefined,
    dispose: async () => {
      if (opened !== undefined) await (await opened.catch(() => undefined))?.close();
    },
  };
}

/** An environment sharing the ISV's store sees it through its own view (docs/environments.md). */
export async function openEnvironmentStore(settings: IsvSettings, reporter: Reporter): Promise<BlobStore> {
  const store = await openStore(settings, reporter);
  const environment = settings.environment;
  if (environment === undefined || !environment.sharedStore) return store;
  const { EnvironmentStore } = await import("../environments/store.js");
  return new EnvironmentStore(store, environment.name, environment.ownRecords);
}

async function openStore(settings: IsvSettings, reporter: Reporter): Promise<BlobStore> {
  const storage = settings.storage;
  if (storage.kind === "local") {
    const { LocalStore } = await import("../storage/local.js");
    return new LocalStore(storage.root);
  }
  // The S3 module (and the AWS SDK with it) is only loaded when the ISV stores on S3.
  const { S3Store } = await import("../storage/s3.js");
  return new S3Store({
    bucket: storage.bucket,
    isv: settings.isv,
    region: storage.region,
    ...(storage.endpoint === undefined ? {} : { endpoint: storage.endpoint }),
    forcePathStyle: storage.forcePathStyle,
    ...(storage.credentials === undefined ? {} : { credentials: storage.credentials }),
    partSize: storage.partSize,
    concurrency: storage.concurrency,
    publicRead: storage.publicRead,
    log: (line) => reporter.debug(line),
  });
}

async function loadFederation(config: LoadedConfig, reporter: Reporter): Promise<Federation> {
  const confDir = config.source.kind === "defaults" ? undefined : path.dirname(config.source.file);
  return Federation.load({
    confDir,
    metadataRepo: config.redhat.metadataRepo,
    metadataRelpath: config.redhat.metadataRelpath,
    maskLayers: config.maskLayers,
    maxInflated: config.maxInflatedLayer,
    cacheFile: await descriptorCachePath(confDir, config.stateDir, config.source.kind === "conf-repo"),
    reporter,
  });
}

function repositoryUrl(settings: IsvSettings, repository: string): string {
  const storage = settings.storage;
  if (storage.kind === "local") {
    // Served by the registry itself (serve_content); recorded for Crane compatibility.
    return `file://${path.join(storage.root, repository)}/`;
  }
  if (storage.publicBaseUrl !== undefined) {
    return `${storage.publicBaseUrl.replace(/\/+$/, "")}/${repository}/`;
  }
  const probe = publicObjectUrl(
    {
      bucket: storage.bucket,
      region: storage.region,
      forcePathStyle: storage.forcePathStyle,
      ...(storage.endpoint === undefined ? {} : { endpoint: storage.endpoint }),
    },
    `${repository}/x`,
  );
  return probe.slice(0, -1);
}

function redirectNote(settings: IsvSettings): string {
  const storage = settings.storage;
  if (storage.kind !== "s3") return "";
  return storage.redirect === "presigned"
    ? `, presigned redirects (${storage.presignTtl} s)`
    : `, public-read redirects${storage.publicRead ? "" : " (objects not marked public-read: the bucket policy must allow reads)"}`;
}
