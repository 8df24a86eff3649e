import path from "node:path";
import { setGitLog } from "../adapters/git.js";
import { buildContext, type IsvContext } from "../commands/context.js";
import type { AppRepository } from "../app/app-repository.js";
import { requireSetUp } from "../commands/checks.js";
import type { PushDeps } from "../commands/types.js";
import { disposeConfig, loadConfig, resolveIsv, type ConfigFlags } from "../config/index.js";
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
    let ctx: IsvContext | undefined;
    try {
      const settings = await resolveIsv(run.config, invocation.isv, overrides);
      ctx = await buildContext({
        config: run.config,
        settings,
        reporter,
        cwd: io.cwd,
        env: io.env,
        signal: edge.signal,
      });
      // Interrupted (not `serve`, which ends on the signal): closing the store ends the uploads in flight.
      const built = ctx;
      if (invocation.command !== "serve") {
        edge.signal.addEventListener("abort", () => void built.dispose().catch(() => undefined), {
          once: true,
        });
      }
      const result = await runCommand(invocation, ctx, io, run);
      await run.finish({ ok: resultOk(result) }, settings);
      return result;
    } catch (error) {
      await run.finish({ ok: false, error }, ctx?.settings);
      throw error;
    } finally {
      await ctx?.dispose();
    }
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
        const { runAuthCommand } = await import("./auth-dispatch.js");
        return { command: "auth", result: await runAuthCommand(invocation.request, app, io.cwd) };
      } finally {
        await app.close();
      }
    }
    case "delete":
    case "gc": {
      await requireSetUp(invocation.isv, platform);
      const { runLifecycle } = await import("./dispatch-lifecycle.js");
      const { GitAppRepository } = await import("../app/app-transaction.js");
      return await runLifecycle(invocation, platform, await ctx.store(), ctx, (remote) => {
        const appRemote = remote ?? settings.appRemote;
        return new GitAppRepository({
          remote: appRemote,
          branch: settings.appBranch,
          reporter: ctx.reporter,
        });
      });
    }
    case "stats": {
      const { stats } = await import("../commands/stats.js");
      const result = await stats(
        {
          isv: invocation.isv,
          ...(invocation.name === undefined ? {} : { name: invocation.name }),
          ...(invocation.options.since === undefined ? {} : { since: invocation.options.since }),
        },
        ctx,
        { store: await ctx.store() },
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
    repositoryUrl: ctx.repositoryUrl,
    registryHost: new URL(settings.appUrl).host,
    maskLayers: settings.maskLayers,
    dockerSchema2: settings.dockerSchema2 ?? false,
    ...(settings.maxInflatedLayer === undefined ? {} : { maxInflatedLayer: settings.maxInflatedLayer }),
    publicRead: settings.storage.kind === "s3" && settings.storage.publicRead,
    concurrency: 3,
    federation: ctx.federation,
    ...((settings.events ?? []).length === 0
      ? {}
      : {
          recordEvents: async (events: RegistryEvent[]) =>
            (await import("../events/push-events.js")).recordEvents(await ctx.store(), events),
        }),
  };
}
