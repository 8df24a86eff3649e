/**
 * What a consuming OpenShift cluster applies so that its own `docker-registry` service is the
 * central registry of its lifecycle environment (docs/environments.md): a Service without a
 * selector, the Endpoints that give it the central registry's addresses, and a Route for the
 * environment's host. Pure: the addresses are resolved by the caller.
 */
import { BlockList, isIP } from "node:net";
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

/**
 * Addresses Kubernetes refuses in an Endpoints object (API validation: loopback, link-local,
 * link-local multicast, unspecified): a consuming cluster could never reach the registry there.
 */
const NOT_FOR_ENDPOINTS = (() => {
  const list = new BlockList();
  list.addSubnet("127.0.0.0", 8, "ipv4");
  list.addSubnet("169.254.0.0", 16, "ipv4");
  list.addSubnet("224.0.0.0", 24, "ipv4");
  list.addAddress("0.0.0.0", "ipv4");
  list.addAddress("::1", "ipv6");
  list.addAddress("::", "ipv6");
  list.addSubnet("fe80::", 10, "ipv6");
  list.addSubnet("ff02::", 16, "ipv6");
  return list;
})();

/** Why Kubernetes would refuse `ip` in an Endpoints object, or undefined when it takes it. */
export function unusableEndpoint(ip: string): string | undefined {
  const family = isIP(ip) === 6 ? "ipv6" : "ipv4";
  // An IPv4-mapped IPv6 address is checked as the IPv4 address it is.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  const blocked =
    mapped === undefined ? NOT_FOR_ENDPOINTS.check(ip, family) : NOT_FOR_ENDPOINTS.check(mapped, "ipv4");
  if (!blocked) return undefined;
  const v4 = mapped ?? (family === "ipv4" ? ip : undefined);
  if (v4 !== undefined ? v4.startsWith("127.") : ip === "::1") return "a loopback address";
  return "a loopback, link-local or unspecified address";
}

/** A Route host that names the machine it is looked up on, never the registry's: loopback. */
export function loopbackHost(hostname: string): boolean {
  const bare = hostname.replace(/^\[|\]$/g, "");
  return (
    bare === "localhost" ||
    bare.endsWith(".localhost") ||
    (isIP(bare) !== 0 && unusableEndpoint(bare) === "a loopback address")
  );
}

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
