import { access } from "node:fs/promises";
import path from "node:path";
import type { IsvSettings } from "../config/index.js";
import { UserError } from "../errors.js";
import { startRegistryServer } from "../server/start.js";
import type { Reporter } from "../ui/reporter.js";
import type { CliIo } from "./io.js";
import type { ServeFlags } from "./program.js";

/**
 * `raas serve`: the ISV's registry in the foreground, from the deployed app repository
 * (what the last push deployed), until SIGINT/SIGTERM; in-flight requests finish first.
 */
export async function serve(
  settings: IsvSettings,
  flags: ServeFlags,
  io: CliIo,
  reporter: Reporter,
): Promise<{ served: string }> {
  if (settings.platform.kind !== "local" || settings.deployDir === undefined) {
    throw new UserError(
      `raas serve runs the local platform; ${settings.isv} is deployed on ${settings.platform.kind}`,
      {
        hint: `Its registry runs at ${settings.appUrl}.`,
      },
    );
  }
  const configPath = path.join(settings.deployDir, "registry.conf");
  try {
    await access(configPath);
  } catch {
    throw new UserError(`${settings.isv} has no deployed registry at ${settings.deployDir}`, {
      hint: `Run \`raas setup ${settings.isv}\` first.`,
    });
  }
  const registry = await startRegistryServer({
    configPath,
    host: flags.host ?? settings.platform.host,
    port: flags.port ?? settings.platform.port,
    log: (record) => {
      if (record.event === "request") reporter.debug(JSON.stringify(record));
      else if (record.level === "error" || record.level === "warn") {
        reporter.warn(String(record.message ?? JSON.stringify(record)));
      } else reporter.debug(JSON.stringify(record));
    },
  });
  reporter.info(`Serving ${settings.isv}'s registry at ${registry.url} (Ctrl-C to stop)`);
  const signal = await io.untilSignal();
  reporter.info(`Received ${signal}; finishing requests in flight`);
  await registry.close();
  return { served: registry.url };
}
