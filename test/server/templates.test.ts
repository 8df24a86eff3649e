/**
 * The deployment templates render into a valid app repo: every OpenShift manifest parses as
 * setup reads it (src/app/platform-openshift-yaml.ts: one YAML document of JSON data) and holds
 * together structurally; the Containerfile runs the server as a non-root user with signals
 * reaching node directly.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { packageRoot } from "../../src/adapters/package-root.js";
import { parseTemplateYaml, type Yaml } from "../../src/app/platform-openshift-yaml.js";
import { serverCommand } from "../../src/app/server-runtime.js";
import { renderTemplateDir } from "../../src/app/templates.js";
import { SAMPLE_TEMPLATE_VARS } from "../helpers/template-vars.js";

const VARS = SAMPLE_TEMPLATE_VARS;

type Obj = { [key: string]: Yaml };
const obj = (value: Yaml | undefined, where: string): Obj => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${where} is not a mapping`);
  }
  return value;
};
const at = (value: Yaml | undefined, ...keys: (string | number)[]): Yaml | undefined => {
  let cur: Yaml | undefined = value;
  for (const key of keys) {
    if (typeof key === "number") cur = Array.isArray(cur) ? cur[key] : undefined;
    else cur = typeof cur === "object" && cur !== null && !Array.isArray(cur) ? cur[key] : undefined;
  }
  return cur;
};

async function rendered() {
  const files = await renderTemplateDir(path.join(packageRoot(), "templates", "app"), VARS);
  const byKind = new Map<string, Obj>();
  for (const file of files.filter((f) => f.path.startsWith("openshift/"))) {
    const doc = obj(parseTemplateYaml(file.data, file.path), file.path);
    expect(typeof doc.apiVersion, file.path).toBe("string");
    expect(at(doc, "metadata", "name"), file.path).toBe("registry");
    expect(at(doc, "metadata", "namespace"), file.path).toBe("acme");
    byKind.set(typeof doc.kind === "string" ? doc.kind : "", doc);
  }
  return { files, byKind };
}

describe("deployment templates", () => {
  it("render Kubernetes objects that reference each other consistently", async () => {
    const { byKind } = await rendered();
    expect([...byKind.keys()].sort()).toEqual(
      expect.arrayContaining(["Deployment", "HorizontalPodAutoscaler", "Route", "Service"]),
    );
    const deployment = byKind.get("Deployment");
    const container = obj(at(deployment, "spec", "template", "spec", "containers", 0), "container");
    expect(at(container, "readinessProbe", "httpGet", "path")).toBe("/readyz");
    expect(at(container, "livenessProbe", "httpGet", "path")).toBe("/healthz");
    expect(at(container, "readinessProbe", "httpGet", "port")).toBe("http");
    expect(at(container, "ports", 0)).toEqual({ name: "http", containerPort: 5000 });
    expect(at(container, "securityContext", "allowPrivilegeEscalation")).toBe(false);
    expect(at(deployment, "spec", "template", "spec", "securityContext", "runAsNonRoot")).toBe(true);
    const labels = at(deployment, "spec", "template", "metadata", "labels");
    expect(at(deployment, "spec", "selector", "matchLabels", "app")).toBe(at(labels, "app"));

    const service = byKind.get("Service");
    expect(at(service, "spec", "selector", "app")).toBe(at(labels, "app"));
    expect(at(service, "spec", "ports", 0, "targetPort")).toBe("http");

    const route = byKind.get("Route");
    expect(at(route, "spec", "to")).toEqual({ kind: "Service", name: at(service, "metadata", "name") });
    expect(at(route, "spec", "tls", "termination")).toBe("edge");
    expect(at(route, "spec", "tls", "insecureEdgeTerminationPolicy")).toBe("Redirect");
    expect(at(route, "spec", "host")).toBe("registry-acme.apps.c1.example.com");

    const hpa = byKind.get("HorizontalPodAutoscaler");
    expect(at(hpa, "spec", "scaleTargetRef")).toEqual({
      apiVersion: at(deployment, "apiVersion"),
      kind: "Deployment",
      name: at(deployment, "metadata", "name"),
    });
    expect(Number(at(hpa, "spec", "minReplicas"))).toBeLessThanOrEqual(
      Number(at(hpa, "spec", "maxReplicas")),
    );
    expect(at(deployment, "spec", "replicas")).toBe(at(hpa, "spec", "minReplicas"));
  });

  it("build an image that runs the server as a numeric non-root user, signals straight to node", async () => {
    const { files } = await rendered();
    const containerfile = files.find((f) => f.path === "Containerfile")?.data ?? "";
    const instructions = containerfile.split("\n").filter((l) => /^[A-Z]+ /.test(l));
    const users = instructions.filter((l) => l.startsWith("USER "));
    const lastUser = users.at(-1)?.slice(5).trim() ?? "";
    expect(lastUser).toMatch(/^[1-9]\d*$/);
    // USER comes after the last RUN, so nothing after it runs as root.
    const lastRun = instructions.map((l) => l.startsWith("RUN ")).lastIndexOf(true);
    expect(instructions.findIndex((l) => l === `USER ${lastUser}`)).toBeGreaterThan(lastRun);
    const cmd = instructions.find((l) => l.startsWith("CMD "))?.slice(4) ?? "";
    // The same command as `npm start` (serverCommand), node's own flags included.
    expect(JSON.parse(cmd)).toEqual(serverCommand());
    expect(serverCommand()).toEqual([
      "node",
      "--no-memory-reducer",
      "server/main.js",
      "--config",
      "registry.conf",
    ]);
    expect(containerfile).toMatch(/^EXPOSE 5000$/m);
  });
});
