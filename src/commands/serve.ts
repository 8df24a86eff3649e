import type { Platform } from "../app/platform.js";
import { UserError } from "../errors.js";
import type { CommandContext } from "./types.js";

export interface ServeOptions {
  isv: string;
  host?: string;
  port?: number;
}

export interface ServeDeps {
  platform: Platform;
  /** Resolves with the signal that asks the server to stop (SIGINT/SIGTERM). */
  untilStopped: () => Promise<NodeJS.Signals>;
}

export interface ServeResult {
  isv: string;
  served: string;
  /** The signal that ended serving: the normal end of a foreground server. */
  stoppedBy: NodeJS.Signals;
}

/**
 * `raas serve`: the ISV's registry in the foreground, from the deployed app repository (what
 * the last push deployed), until SIGINT/SIGTERM; in-flight requests finish first. Being asked
 * to stop is how a foreground server ends, so it is a success (README, Exit codes).
 */
export async function serve(
  options: ServeOptions,
  ctx: CommandContext,
  deps: ServeDeps,
): Promise<ServeResult> {
  const { platform } = deps;
  if (platform.serveForeground === undefined) {
    throw new UserError(
      `raas serve runs the local platform; ${options.isv} is deployed on ${platform.kind}`,
      {
        hint: `Its registry runs at ${platform.appUrl}.`,
      },
    );
  }
  const { reporter } = ctx;
  const registry = await platform.serveForeground({
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.port === undefined ? {} : { port: options.port }),
    reporter,
  });
  reporter.info(`Serving ${options.isv}'s registry at ${registry.url} (Ctrl-C to stop)`);
  const signal = await deps.untilStopped();
  reporter.info(`Received ${signal}; finishing requests in flight`);
  await registry.close();
  return { isv: options.isv, served: registry.url, stoppedBy: signal };
}
