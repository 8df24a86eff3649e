/**
 * `raas cluster-config <isv> --env prod`: the Service, Endpoints and Route a consuming cluster
 * applies to use the environment's central registry as its `docker-registry` service.
 */
import { lookup } from "node:dns/promises";
import type { IsvSettings } from "../config/types.js";
import { clusterObjects, clusterYaml, type KubeObject } from "../environments/cluster-config.js";
import { UserError } from "../errors.js";
import type { CommandContext } from "./types.js";

export interface ClusterConfigOptions {
  isv: string;
  /** IPs of the registry; default: what its host name resolves to. */
  addresses: string[];
  namespace: string;
  servicePort: number;
}

export interface ClusterConfigResult {
  isv: string;
  environment: string | undefined;
  registry: string;
  objects: KubeObject[];
  yaml: string;
}

export async function clusterConfig(
  options: ClusterConfigOptions,
  ctx: CommandContext,
  settings: IsvSettings,
): Promise<ClusterConfigResult> {
  const host = new URL(settings.appUrl).hostname;
  let addresses = options.addresses;
  if (addresses.length === 0) {
    try {
      addresses = (await lookup(host, { all: true })).map((a) => a.address);
    } catch (error) {
      throw new UserError(`cannot resolve ${host}, the registry of ${settings.isv}`, {
        hint: "Pass its addresses with --address <ip> (repeatable).",
        cause: error,
      });
    }
    ctx.reporter.debug(`${host} resolves to ${addresses.join(", ")}`);
  }
  const objects = clusterObjects({
    isv: settings.isv,
    environment: settings.environment?.name ?? "default",
    appUrl: settings.appUrl,
    addresses,
    namespace: options.namespace,
    servicePort: options.servicePort,
  });
  return {
    isv: settings.isv,
    environment: settings.environment?.name,
    registry: settings.appUrl,
    objects,
    yaml: clusterYaml(objects),
  };
}
