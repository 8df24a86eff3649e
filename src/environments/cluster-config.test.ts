import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { UserError } from "../errors.js";
import { clusterObjects, clusterYaml } from "./cluster-config.js";

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec?: {
    selector?: unknown;
    ports?: { name: string; port: number; targetPort: number }[];
    host?: string;
    to?: { kind: string; name: string };
    port?: { targetPort: string };
    tls?: { termination: string };
  };
  subsets?: { addresses: { ip: string }[]; ports: { name: string; port: number }[] }[];
}

function parse(text: string): Doc[] {
  return parseAllDocuments(text).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as Doc;
  });
}

describe("the objects a consuming cluster applies", () => {
  it("makes docker-registry a selector-less Service, its Endpoints and a passthrough Route to the environment's host", () => {
    const text = clusterYaml(
      clusterObjects({
        isv: "acme",
        environment: "prod",
        appUrl: "https://prod-registry.acme.example.com",
        addresses: ["203.0.113.7", "203.0.113.5", "203.0.113.7"],
        namespace: "default",
        servicePort: 5000,
      }),
    );
    const [service, endpoints, route, extra] = parse(text);
    expect(extra).toBeUndefined();
    for (const doc of [service, endpoints, route]) {
      expect(doc?.metadata).toMatchObject({
        name: "docker-registry",
        namespace: "default",
        labels: { "raas.io/isv": "acme", "raas.io/environment": "prod" },
      });
    }
    expect(service).toMatchObject({ apiVersion: "v1", kind: "Service" });
    expect(service?.spec?.selector).toBeUndefined();
    expect(service?.spec?.ports).toEqual([
      { name: "registry", protocol: "TCP", port: 5000, targetPort: 443 },
    ]);
    expect(endpoints).toMatchObject({ apiVersion: "v1", kind: "Endpoints" });
    expect(endpoints?.subsets).toEqual([
      {
        addresses: [{ ip: "203.0.113.5" }, { ip: "203.0.113.7" }],
        ports: [{ name: "registry", protocol: "TCP", port: 443 }],
      },
    ]);
    expect(route).toMatchObject({
      apiVersion: "route.openshift.io/v1",
      kind: "Route",
      spec: {
        host: "prod-registry.acme.example.com",
        to: { kind: "Service", name: "docker-registry" },
        port: { targetPort: "registry" },
        tls: { termination: "passthrough" },
      },
    });
  });

  it("keeps a plain-HTTP registry's port and sets no TLS", () => {
    const [service, endpoints, route] = parse(
      clusterYaml(
        clusterObjects({
          isv: "acme",
          environment: "test",
          appUrl: "http://127.0.0.1:5123",
          addresses: ["127.0.0.1"],
          namespace: "registry",
          servicePort: 5000,
        }),
      ),
    );
    expect(service?.spec?.ports?.[0]?.targetPort).toBe(5123);
    expect(endpoints?.subsets?.[0]?.ports[0]?.port).toBe(5123);
    expect(route?.spec?.host).toBe("127.0.0.1");
    expect(route?.spec?.tls).toBeUndefined();
    expect(service?.metadata.namespace).toBe("registry");
  });

  it("refuses a host name or garbage where an IP address belongs, and no address at all", () => {
    const input = {
      isv: "acme",
      environment: "prod",
      appUrl: "https://r.example.com",
      namespace: "default",
      servicePort: 5000,
    };
    expect(() => clusterObjects({ ...input, addresses: ["r.example.com"] })).toThrow(UserError);
    expect(() => clusterObjects({ ...input, addresses: ["1.2.3.4\nkind: Secret"] })).toThrow(
      /not an IP address/,
    );
    expect(() => clusterObjects({ ...input, addresses: [] })).toThrow(/needs at least one IP/);
  });
});
