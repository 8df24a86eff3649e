/**
 * `raas cluster-config <isv> --env prod`: the Service, Endpoints and Route a consuming cluster
 * applies to use the environment's central registry as its `docker-registry` service.
 */
import { lookup } from "node:dns/promises";
import type { IsvSettings } from "../config/types.js";
import {
  clusterObjects,
  clusterYaml,
  loopbackHost,
  unusableEndpoint,
  type KubeObject,
} from "../environments/cluster-config.js";
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
  const section = `[${settings.isv}${settings.environment === undefined ? "" : `.${settings.environment.name}`}]`;
  let addresses = options.addresses;
  const given = addresses.length > 0;
  if (!given) {
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
  // Kubernetes refuses these in Endpoints (and they would point the consuming cluster at itself):
  // the YAML would fail at `oc apply`, so say so here and name the option that fixes it.
  for (const address of addresses) {
    const unusable = unusableEndpoint(address);
    if (unusable === undefined) continue;
    throw new UserError(
      given
        ? `--address ${address} is ${unusable}: Kubernetes refuses it in the Endpoints object`
        : `${host}, the host of ${settings.isv}'s registry ${settings.appUrl}, resolves to ${address}, ${unusable}: Kubernetes refuses it in the Endpoints object, and a consuming cluster could not reach the registry there`,
      {
        hint: `Pass the registry's address as the consuming cluster reaches it with --address <ip> (repeatable)${given ? "" : `, or set app_url in ${section} to a host name that resolves to it`}.`,
        ...(given ? { exitCode: 2, code: "USAGE" } : { code: "BAD_CONFIG" }),
      },
    );
  }
  if (loopbackHost(host)) {
    // The Endpoints are fine (--address), but the Route's host comes from app_url.
    ctx.reporter.warn(
      `the Route's host ${host} (app_url ${settings.appUrl}) is loopback: a consuming cluster's router cannot serve the registry under it; set app_url in ${section} to the registry's host name`,
    );
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
