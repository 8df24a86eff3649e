import { access } from "node:fs/promises";
import path from "node:path";
import { GitAppRepository } from "../app/app-transaction.js";
import { setGitLog } from "../adapters/git.js";
import type { CommandResult } from "./render.js";
import {
  disposeConfig,
  loadConfig,
  resolveIsv,
  type ConfigFlags,
  type IsvSettings,
  type LoadedConfig,
} from "../config/index.js";
import { UserError } from "../errors.js";
import type { RegistryEvent } from "../events/envelope.js";
import { descriptorCachePath, Federation } from "../federation/index.js";
import { LocalStore } from "../storage/local.js";
import type { S3Store } from "../storage/s3.js";
import { publicObjectUrl } from "../storage/s3-url.js";
import type { Reporter } from "../ui/reporter.js";
import type { CliIo } from "./io.js";
import type { GlobalOptions, Invocation } from "./program.js";
import { RunSession } from "./run-session.js";

/**
 * Build what a command needs from configuration (the store, the app repository, the
 * platform) and run it. Commands receive these as plain dependencies and return data.
 */
export async function dispatch(
  invocation: Invocation,
  globals: GlobalOptions,
  edge: { io: CliIo; reporter: Reporter },
): Promise<CommandResult> {
  const { io } = edge;
  // --log debug: every git command with its timing (S3 and HTTP calls log through their own hooks).
  setGitLog(edge.reporter.level === "debug" ? (line) => edge.reporter.debug(line) : undefined);
  const config = await loadConfig({
    cwd: io.cwd,
    env: io.env,
    ...(globals.config === undefined ? {} : { configPath: path.resolve(io.cwd, globals.config) }),
    ...(globals.configenv === undefined ? {} : { configEnv: globals.configenv }),
    flags: configFlags(globals),
  });
  try {
    // With a configuration repository, the session's reporter also keeps the run log.
    const run = await RunSession.start(config, invocation, globals, edge);
    const reporter = run.reporter;
    for (const warning of config.warnings) reporter.warn(warning);
    reporter.debug(
      `configuration: ${config.source.kind === "defaults" ? "built-in defaults" : config.source.file}`,
    );
    const overrides =
      invocation.command === "setup"
        ? invocation.options.s3bucket === undefined
          ? {}
          : { bucket: invocation.options.s3bucket }
        : { allocate: false };
    let settings: IsvSettings | undefined;
    try {
      settings = await resolveIsv(run.config, invocation.isv, overrides);
    } catch (error) {
      await run.finish({ ok: false, error }, undefined);
      throw error;
    }
    const ctx = { cwd: io.cwd, env: io.env, reporter };
    const store = invocation.command === "serve" ? undefined : await openStore(settings, reporter);
    try {
      const result = await runCommand(invocation, settings, store, ctx, io, run, () =>
        loadFederation(config, reporter),
      );
      await run.finish({ ok: !("checks" in result) || result.ok }, settings);
      return result;
    } catch (error) {
      await run.finish({ ok: false, error }, settings);
      throw error;
    } finally {
      if (store !== undefined && !(store instanceof LocalStore)) store.close();
    }
  } finally {
    await disposeConfig(config);
  }
}

async function runCommand(
  invocation: Invocation,
  settings: IsvSettings,
  store: Store | undefined,
  ctx: { cwd: string; env: NodeJS.ProcessEnv; reporter: Reporter },
  io: CliIo,
  run: RunSession,
  federation: () => Promise<Federation>,
): Promise<CommandResult> {
  const { reporter } = ctx;
  const needStore = (): Store => {
    if (store === undefined) throw new Error(`${invocation.command} needs a store`);
    return store;
  };
  {
    switch (invocation.command) {
      case "push": {
        await requireSetUp(settings);
        const app = appRepository(settings, reporter);
        try {
          const { push } = await import("../commands/push.js");
          const result = await push(
            {
              isv: invocation.isv,
              image: invocation.image,
              ...(invocation.options.name === undefined ? {} : { name: invocation.options.name }),
              tags: invocation.options.tag,
              wait: invocation.options.wait,
              timeoutSeconds: invocation.options.timeout,
            },
            ctx,
            {
              store: needStore(),
              app,
              repositoryUrl: (repository) => repositoryUrl(settings, repository),
              registryHost: new URL(settings.appUrl).host,
              registryUrl: settings.appUrl,
              maskLayers: settings.maskLayers,
              dockerSchema2: settings.dockerSchema2 ?? false,
              publicRead: settings.storage.kind === "s3" && settings.storage.publicRead,
              concurrency: 3,
              federation,
              ...((settings.events ?? []).length === 0
                ? {}
                : {
                    recordEvents: async (events: RegistryEvent[]) =>
                      (await import("../events/push-events.js")).recordEvents(needStore(), events),
                  }),
              ...(settings.platform.kind === "openshift"
                ? {
                    deploy: (await import("./setup-deps-openshift.js")).openshiftDeployAfterPush(
                      settings,
                      reporter,
                      invocation.options.timeout * 1000,
                    ),
                  }
                : {}),
            },
          );
          await run.backupPush(result, app);
          return result;
        } finally {
          await app.close();
        }
      }
      case "status": {
        const app = appRepository(settings, reporter);
        try {
          const { status } = await import("../commands/status.js");
          const { platformChecks, storageCheck } = await import("./setup-deps.js");
          return await status(
            {
              isv: invocation.isv,
              verify: invocation.options.verify,
              ...(invocation.options.app === undefined ? {} : { app: invocation.options.app }),
            },
            ctx,
            {
              store: needStore(),
              app,
              appUrl: settings.appUrl,
              registryHost: new URL(settings.appUrl).host,
              platformChecks: () => platformChecks(settings, reporter),
              storageCheck: () => storageCheck(needStore()),
              eventEndpoints: (settings.events ?? []).map((e) => e.name),
            },
          );
        } finally {
          await app.close();
        }
      }
      case "setup": {
        const { setup } = await import("../commands/setup.js");
        const { setupDeps } = await import("./setup-deps.js");
        return await setup(
          {
            isv: invocation.isv,
            create: invocation.options.create,
            start: invocation.options.start,
            timeoutSeconds: invocation.options.timeout,
          },
          ctx,
          await setupDeps(settings, needStore(), reporter),
        );
      }
      case "stats": {
        const { stats } = await import("../commands/stats.js");
        return await stats(
          {
            isv: invocation.isv,
            ...(invocation.name === undefined ? {} : { name: invocation.name }),
            ...(invocation.options.since === undefined ? {} : { since: invocation.options.since }),
          },
          ctx,
          { store: needStore() },
        );
      }
      case "serve": {
        const { serve } = await import("./serve.js");
        return await serve(settings, invocation.options, io, reporter);
      }
    }
  }
}

/** Vendor metadata from the config directory and `[redhat] metadata_repo`, and the descriptor cache. */
async function loadFederation(config: LoadedConfig, reporter: Reporter): Promise<Federation> {
  const confDir = config.source.kind === "defaults" ? undefined : path.dirname(config.source.file);
  return Federation.load({
    confDir,
    metadataRepo: config.redhat.metadataRepo,
    metadataRelpath: config.redhat.metadataRelpath,
    maskLayers: config.maskLayers,
    cacheFile: await descriptorCachePath(confDir, config.stateDir, config.source.kind === "conf-repo"),
    reporter,
  });
}

/** The global options that override configuration keys, as the loader validates them. */
function configFlags(globals: GlobalOptions): ConfigFlags {
  const flags: ConfigFlags = {};
  for (const key of ["stateDir", "storage", "platform", "s3Endpoint", "s3Region", "redirect"] as const) {
    const value = globals[key];
    if (value !== undefined) flags[key] = value;
  }
  return flags;
}

/**
 * The two stores, as their classes: callers tell them apart with `instanceof LocalStore`, so the
 * S3 module (and the AWS SDK with it) is only ever loaded when the ISV stores on S3.
 */
export type Store = LocalStore | S3Store;

export async function openStore(settings: IsvSettings, reporter: Reporter): Promise<Store> {
  const storage = settings.storage;
  if (storage.kind === "local") return new LocalStore(storage.root);
  const { S3Store } = await import("../storage/s3.js");
  return new S3Store({
    bucket: storage.bucket,
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

/** Crane's `url`: where `<repository>/` lives, so `<url>blobs/<digest>` is a blob's address. */
export function repositoryUrl(settings: IsvSettings, repository: string): string {
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

/** On the local platform, a push before setup would fail deep inside git: say what to do instead. */
async function requireSetUp(settings: IsvSettings): Promise<void> {
  if (settings.platform.kind !== "local") return;
  const exists = await access(settings.appRemote).then(
    () => true,
    () => false,
  );
  if (!exists) {
    throw new UserError(
      `${settings.isv} is not set up: there is no app repository at ${settings.appRemote}`,
      {
        hint: `Run \`raas setup ${settings.isv}\` first.`,
        code: "NOT_SET_UP",
      },
    );
  }
}

function appRepository(settings: IsvSettings, reporter: Reporter): GitAppRepository {
  return new GitAppRepository({ remote: settings.appRemote, branch: settings.appBranch, reporter });
}
