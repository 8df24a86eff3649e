import path from "node:path";
import { setGitLog } from "../adapters/git.js";
import { buildContext, type IsvContext } from "../commands/context.js";
import type { AppRepository } from "../app/app-repository.js";
import { requireSetUp } from "../commands/checks.js";
import type { PushDeps } from "../commands/types.js";
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
import type { Reporter } from "../ui/reporter.js";
import type { CliIo } from "./io.js";
import type { GlobalOptions, Invocation, PushFlags } from "./program.js";
import { resultOk, type CommandResult } from "./render.js";
import { RunSession } from "./run-session.js";

/**
 * Load the configuration, build the command's context (commands/context.ts) and run the
 * command; wrap it in the run session (configuration repository log and commit).
 */
export async function dispatch(
  invocation: Invocation,
  globals: GlobalOptions,
  edge: { io: CliIo; reporter: Reporter; signal: AbortSignal },
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
    const open = async (env: string | undefined, allocate?: boolean) => {
      const settings = await resolveIsv(run.config, invocation.isv, {
        ...overrides,
        ...(allocate === undefined ? {} : { allocate }),
        ...(env === undefined ? {} : { env }),
      });
      return buildContext({
        config: run.config,
        settings,
        reporter,
        cwd: io.cwd,
        env: io.env,
        signal: edge.signal,
      });
    };
    if (invocation.command === "promote" || invocation.command === "cluster-config") {
      let settings: IsvSettings | undefined;
      try {
        const { runEnvironmentCommand } = await import("./dispatch-envs.js");
        const result = await runEnvironmentCommand(invocation, globals.env, {
          config: run.config,
          open: async (env) => {
            const ctx = await open(env);
            settings ??= ctx.settings;
            return ctx;
          },
          reporter,
          signal: edge.signal,
        });
        await run.finish({ ok: true }, settings);
        return result;
      } catch (error) {
        await run.finish({ ok: false, error }, settings);
        throw error;
      }
    }
    // An ISV with environments: setup and status cover them all unless --env names one; push and
    // sync go to the first (where images enter); every other command needs --env.
    const declared = run.config.isvs[invocation.isv]?.environments ?? [];
    const envs: (string | undefined)[] =
      globals.env !== undefined || declared.length === 0
        ? [globals.env]
        : invocation.command === "setup" || invocation.command === "status"
          ? declared
          : invocation.command === "push" || invocation.command === "sync"
            ? declared.slice(0, 1)
            : [undefined];
    const results: CommandResult[] = [];
    for (const env of envs) {
      let ctx: IsvContext | undefined;
      try {
        ctx = await open(env);
        const settings = ctx.settings;
        if (envs.length > 1) reporter.info(`Environment ${env ?? ""}: ${settings.appUrl}`);
        refusePromoteOnly(invocation, settings);
        if (["setup", "push", "sync"].includes(invocation.command)) {
          const { refuseCraneOnSharedStore } = await import("../environments/crane.js");
          refuseCraneOnSharedStore(settings, invocation.command === "setup" ? "set up" : "published");
        }
        // Interrupted: closing the store ends the uploads in flight. Not `serve`, which ends on the
        // signal, nor push and sync, whose push closes it only until its metadata commit starts.
        const built = ctx;
        if (!["serve", "push", "sync"].includes(invocation.command)) {
          edge.signal.addEventListener("abort", () => void built.dispose().catch(() => undefined), {
            once: true,
          });
        }
        if (invocation.command === "gc") {
          // Environments sharing the store: GC marks from every one of them.
          invocation.options.alsoApp = [
            ...invocation.options.alsoApp,
            ...(await sharingApps(run.config, invocation.isv, settings)),
          ];
        }
        const result = await runCommand(invocation, ctx, io, run);
        await run.finish({ ok: resultOk(result) }, settings);
        results.push(env === undefined || envs.length === 1 ? result : inEnvironment(result, env));
      } catch (error) {
        await run.finish({ ok: false, error }, ctx?.settings);
        throw error;
      } finally {
        await ctx?.dispose();
      }
    }
    return mergeResults(results);
  } finally {
    await disposeConfig(config);
  }
}

/** Each command with the parts of the context it uses. */
async function runCommand(
  invocation: Invocation,
  ctx: IsvContext,
  io: CliIo,
  run: RunSession,
): Promise<CommandResult> {
  const { settings, platform } = ctx;
  switch (invocation.command) {
    case "promote":
    case "cluster-config":
      throw new Error(`${invocation.command} is dispatched by dispatch-envs.ts`);
    case "push": {
      const { options } = invocation;
      const app = await ctx.app();
      try {
        const { push } = await import("../commands/push.js");
        const result = await push(
          {
            isv: invocation.isv,
            image: invocation.image,
            ...(options.name === undefined ? {} : { name: options.name }),
            tags: options.tag,
            wait: options.wait,
            timeoutSeconds: options.timeout,
            ...(await registrySourceFlags(options, io.cwd)),
          },
          ctx,
          await pushDeps(ctx, app),
        );
        await run.backupPush(result, app);
        return { command: "push", result };
      } finally {
        await app.close();
      }
    }
    case "sync": {
      const { options } = invocation;
      const app = await ctx.app();
      try {
        const { sync } = await import("../commands/sync.js");
        const result = await sync(
          {
            isv: invocation.isv,
            spec: path.resolve(io.cwd, options.spec),
            dryRun: options.dryRun,
            wait: options.wait,
            timeoutSeconds: options.timeout,
          },
          ctx,
          await pushDeps(ctx, app),
        );
        return { command: "sync", result };
      } finally {
        await app.close();
      }
    }
    case "auth": {
      await requireSetUp(invocation.isv, platform);
      const app = await ctx.app();
      try {
        const { accessNotInForce, runAuthCommand } = await import("./auth-dispatch.js");
        const result = await runAuthCommand(invocation.request, app, io.cwd, ctx.settings.environment?.name);
        const notInForce = accessNotInForce(invocation.request, settings.auth?.mode ?? "off", invocation.isv);
        if (notInForce !== undefined) ctx.reporter.warn(notInForce);
        return { command: "auth", result };
      } finally {
        await app.close();
      }
    }
    case "delete":
    case "gc": {
      await requireSetUp(invocation.isv, platform);
      const { runLifecycle } = await import("./dispatch-lifecycle.js");
      const { GitAppRepository } = await import("../app/app-transaction.js");
      return await runLifecycle(
        invocation,
        platform,
        await ctx.store(),
        ctx,
        (remote) => {
          const appRemote = remote ?? settings.appRemote;
          return new GitAppRepository({
            remote: appRemote,
            branch: settings.appBranch,
            reporter: ctx.reporter,
            // The cache holds one remote's objects; another environment's app has its own clone.
            ...(remote === undefined ? { objectCache: path.join(settings.isvDir, "app-objects.git") } : {}),
          });
        },
        { retention: settings.retention ?? [], events: (settings.events ?? []).length > 0 },
        async () => (await import("../app/registry-http.js")).registryClientFor(settings),
      );
    }
    case "stats": {
      const { publishedRepositories, stats } = await import("../commands/stats.js");
      const result = await stats(
        {
          isv: invocation.isv,
          ...(invocation.name === undefined ? {} : { name: invocation.name }),
          ...(invocation.options.since === undefined ? {} : { since: invocation.options.since }),
        },
        ctx,
        {
          store: await ctx.store(),
          published: async () => {
            const { GitTreeAppRepository } = await import("../app/app-tree.js");
            const app = new GitTreeAppRepository({ remote: settings.appRemote, branch: settings.appBranch });
            try {
              return await publishedRepositories(app);
            } finally {
              await app.close();
            }
          },
        },
      );
      return { command: "stats", result };
    }
    case "status": {
      // Status only reads: the newest commit's files from git's objects, no work tree written.
      const { GitTreeAppRepository } = await import("../app/app-tree.js");
      const app = new GitTreeAppRepository({ remote: settings.appRemote, branch: settings.appBranch });
      try {
        const { status } = await import("../commands/status.js");
        const result = await status(
          {
            isv: invocation.isv,
            verify: invocation.options.verify,
            allTags: invocation.options.allTags,
            ...(invocation.options.app === undefined ? {} : { app: invocation.options.app }),
          },
          ctx,
          {
            store: await ctx.store(),
            app,
            platform,
            registryHost: new URL(settings.appUrl).host,
            registry: await (await import("../app/registry-http.js")).registryClientFor(settings),
            publicRedirects: settings.storage.kind === "s3" && settings.storage.redirect === "public",
            eventEndpoints: (settings.events ?? []).map((e) => e.name),
            gcCheck: async (prepared) =>
              (await import("../commands/status-gc.js")).gcStatusCheck(
                invocation.isv,
                await ctx.store(),
                app,
                ctx.reporter,
                prepared,
              ),
            moreChecks: async () => {
              // The last retention run and open upload sessions (status-lifecycle.ts).
              const { lifecycleStatusChecks } = await import("../commands/status-lifecycle.js");
              const more = await lifecycleStatusChecks(invocation.isv, await ctx.store());
              if (settings.environment !== undefined) {
                const { approvalChecks } = await import("./dispatch-envs.js");
                more.push(...(await approvalChecks(app, invocation.isv)));
              }
              return more;
            },
          },
        );
        return { command: "status", result };
      } finally {
        await app.close();
      }
    }
    case "setup": {
      const { setup } = await import("../commands/setup.js");
      const { options } = invocation;
      const result = await setup(
        {
          isv: invocation.isv,
          create: options.create,
          start: options.start,
          timeoutSeconds: options.timeout,
        },
        ctx,
        {
          store: await ctx.store(),
          platform,
          redirectNote: ctx.redirectNote,
          ...(ctx.publicRedirects === undefined ? {} : { publicRedirects: ctx.publicRedirects }),
        },
      );
      return { command: "setup", result };
    }
    case "serve": {
      const { serve } = await import("../commands/serve.js");
      const { options } = invocation;
      const result = await serve(
        {
          isv: invocation.isv,
          ...(options.host === undefined ? {} : { host: options.host }),
          ...(options.port === undefined ? {} : { port: options.port }),
        },
        ctx,
        { platform, untilStopped: io.untilSignal },
      );
      return { command: "serve", result };
    }
  }
}

/** push's flags for docker:// sources and original names, as push options. */
async function registrySourceFlags(flags: PushFlags, cwd: string) {
  const { parseRenames } = await import("../sync/rules.js");
  return {
    source: {
      tlsVerify: flags.srcTlsVerify,
      ...(flags.srcCa === undefined ? {} : { caFile: path.resolve(cwd, flags.srcCa) }),
    },
    ...(flags.stripPrefix === undefined
      ? {}
      : {
          nameRule: {
            stripPrefix: flags.stripPrefix,
            ...(flags.slash === undefined ? {} : { slash: flags.slash }),
          },
        }),
    renameTags: parseRenames(flags.renameTag ?? []),
  };
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

/** What a publication needs (push and sync): storage, the app repository, the platform, settings. */
async function pushDeps(ctx: IsvContext, app: AppRepository): Promise<PushDeps> {
  const { settings } = ctx;
  return {
    store: await ctx.store(),
    app,
    platform: ctx.platform,
    repositoryUrl: (repository) => ctx.repositoryUrl(repository),
    registryHost: new URL(settings.appUrl).host,
    registry: async () => (await import("../app/registry-http.js")).registryClientFor(settings),
    registryTls: (await import("../app/registry-http.js")).registryTlsHint(settings),
    maskLayers: settings.maskLayers,
    dockerSchema2: settings.dockerSchema2 ?? false,
    ...(settings.maxInflatedLayer === undefined ? {} : { maxInflatedLayer: settings.maxInflatedLayer }),
    publicRead: settings.storage.kind === "s3" && settings.storage.publicRead,
    concurrency: 3,
    federation: () => ctx.federation(),
    ...((settings.events ?? []).length === 0
      ? {}
      : {
          recordEvents: async (events: RegistryEvent[]) =>
            (await import("../events/push-events.js")).recordEvents(await ctx.store(), events),
        }),
  };
}

/** `promote_only` environments receive images by promotion only (docs/environments.md). */
function refusePromoteOnly(invocation: Invocation, settings: IsvSettings): void {
  const env = settings.environment;
  if (env === undefined || !env.promoteOnly) return;
  if (invocation.command !== "push" && invocation.command !== "sync") return;
  const earlier = env.all.slice(0, env.all.indexOf(env.name));
  throw new UserError(`${settings.isv} ${env.name} receives images only by promotion; nothing was pushed`, {
    hint: `Push to ${earlier.join(" or ")} and run \`raas promote ${settings.isv} <name>:<tag> --from ${earlier.at(-1) ?? ""} --to ${env.name}\` (promote_only in [${settings.isv}]).`,
    code: "PROMOTE_ONLY",
  });
}

/** App repositories of the ISV's other environments that share this one's store. */
async function sharingApps(config: LoadedConfig, isv: string, settings: IsvSettings): Promise<string[]> {
  const env = settings.environment;
  if (env === undefined || !env.sharedStore) return [];
  const remotes: string[] = [];
  for (const other of env.all) {
    if (other === env.name) continue;
    const resolved = await resolveIsv(config, isv, { env: other, allocate: false });
    if (resolved.environment?.sharedStore === true) remotes.push(resolved.appRemote);
  }
  return remotes;
}

/** One environment's setup or status report, its checks named after the environment. */
function inEnvironment(result: CommandResult, env: string): CommandResult {
  if (result.command !== "setup" && result.command !== "status") return result;
  const checks = result.result.checks.map((c) => ({ ...c, name: `${env}: ${c.name}` }));
  return { ...result, result: { ...result.result, checks } } as CommandResult;
}

/** Setup or status over every environment: one report, ok when every environment is. */
function mergeResults(results: CommandResult[]): CommandResult {
  const [first, ...rest] = results;
  if (first === undefined) throw new Error("no environment ran");
  if (rest.length === 0) return first;
  if (first.command === "setup" || first.command === "status") {
    const all = results.map((r) => r.result as typeof first.result);
    return {
      ...first,
      result: {
        ...first.result,
        ok: all.every((r) => r.ok),
        checks: all.flatMap((r) => r.checks),
        pullUrls: all.flatMap((r) => r.pullUrls),
        ...(first.command === "setup"
          ? { changed: all.some((r) => (r as { changed?: boolean }).changed === true) }
          : {}),
      },
    } as CommandResult;
  }
  return first;
}
