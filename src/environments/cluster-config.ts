/**
 * What a consuming OpenShift cluster applies so that its own `docker-registry` service is the
 * central registry of its lifecycle environment (docs/environments.md): a Service without a
 * selector, the Endpoints that give it the central registry's addresses, and a Route for the
 * environment's host. Pure: the addresses are resolved by the caller.
 */
import { isIP } from "node:net";
import { stringify } from "yaml";
import { UserError } from "../errors.js";

export interface ClusterConfigInput {
  isv: string;
  environment: string;
  /** The environment's registry URL (`https://prod-registry.acme.example.com`). */
  appUrl: string;
  /** IP addresses the registry host resolves to. */
  addresses: string[];
  /** Namespace of the consuming cluster's `docker-registry` service. */
  namespace: string;
  /** Port the service listens on inside the consuming cluster (OpenShift's registry: 5000). */
  servicePort: number;
}

export const SERVICE_NAME = "docker-registry";
const PORT_NAME = "registry";

export type KubeObject = Record<string, unknown>;

export function clusterObjects(input: ClusterConfigInput): KubeObject[] {
  const url = new URL(input.appUrl);
  const tls = url.protocol === "https:";
  const port = url.port === "" ? (tls ? 443 : 80) : Number(url.port);
  if (input.addresses.length === 0) {
    throw new UserError(`no address for ${url.hostname}: the Endpoints object needs at least one IP`, {
      hint: "Pass --address <ip> (repeatable).",
    });
  }
  for (const address of input.addresses) {
    if (isIP(address) === 0) {
      throw new UserError(`--address ${JSON.stringify(address)} is not an IP address`, {
        exitCode: 2,
        code: "USAGE",
      });
    }
  }
  const metadata = {
    name: SERVICE_NAME,
    namespace: input.namespace,
    labels: { "raas.io/isv": input.isv, "raas.io/environment": input.environment },
    annotations: { "raas.io/registry": url.origin },
  };
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata,
      // No selector: the Endpoints below, not pods of this cluster, are what it serves.
      spec: {
        type: "ClusterIP",
        ports: [{ name: PORT_NAME, protocol: "TCP", port: input.servicePort, targetPort: port }],
      },
    },
    {
      apiVersion: "v1",
      kind: "Endpoints",
      metadata,
      subsets: [
        {
          addresses: [...new Set(input.addresses)].sort().map((ip) => ({ ip })),
          ports: [{ name: PORT_NAME, protocol: "TCP", port }],
        },
      ],
    },
    {
      apiVersion: "route.openshift.io/v1",
      kind: "Route",
      metadata,
      spec: {
        host: url.hostname,
        to: { kind: "Service", name: SERVICE_NAME, weight: 100 },
        port: { targetPort: PORT_NAME },
        // The central registry terminates its own TLS: pass it through untouched.
        ...(tls ? { tls: { termination: "passthrough", insecureEdgeTerminationPolicy: "None" } } : {}),
      },
    },
  ];
}

/** The objects as one YAML stream (`---` between documents), as `oc apply -f -` reads it. */
export function clusterYaml(objects: KubeObject[]): string {
  return objects.map((o) => `---\n${stringify(o)}`).join("");
}
