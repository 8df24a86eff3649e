/**
 * STAND-IN for the OpenShift 4 API, for tests only: a real OpenShift cluster cannot run here.
 * It is a small node:http server on 127.0.0.1 that implements just the calls raas makes, with
 * the semantics raas relies on, and checks them:
 * - every request must carry `Authorization: Bearer <token>` (else 401, like the real API);
 * - projects: GET /apis/project.openshift.io/v1/projects/<ns> (403 for an unknown project, as
 *   OpenShift answers users who cannot see it);
 * - server-side apply (PATCH, application/apply-patch+yaml, fieldManager=raas) of the kinds
 *   raas manages, refusing an object whose kind, name or namespace differs from the URL; an
 *   identical apply keeps the resourceVersion, a changed one bumps it (and a Deployment's
 *   generation);
 * - builds: POST .../buildconfigs/<name>/instantiate creates <name>-<n>, which moves
 *   New -> Running -> Complete on successive GETs; a completed build rolls the Deployment out;
 * - the app's route: GET /v1/_ping, /v2/ and /v2/_catalog on the same server answer like an
 *   empty registry once a rollout completed (503 before).
 * Scenarios: success, unauthorized (every token rejected), missing-project, build-fails,
 * rollout-timeout (the pods never become available), malformed-build (starting a build
 * answers a Build without a name, as a broken proxy might).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type FakeScenario =
  "success" | "unauthorized" | "missing-project" | "build-fails" | "rollout-timeout" | "malformed-build";

export interface KubeLike {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; generation?: number };
  [key: string]: unknown;
}

export interface FakeOpenShift {
  url: string;
  token: string;
  scenario: FakeScenario;
  /** Every request: method and path (no query). */
  requests: { method: string; path: string; authorized: boolean }[];
  /** Stored objects by API path. */
  objects: Map<string, KubeLike>;
  builds: string[];
  close(): Promise<void>;
}

const KINDS: Record<string, { group: string; kind: string }> = {
  buildconfigs: { group: "build.openshift.io/v1", kind: "BuildConfig" },
  builds: { group: "build.openshift.io/v1", kind: "Build" },
  imagestreams: { group: "image.openshift.io/v1", kind: "ImageStream" },
  deployments: { group: "apps/v1", kind: "Deployment" },
  services: { group: "v1", kind: "Service" },
  secrets: { group: "v1", kind: "Secret" },
  routes: { group: "route.openshift.io/v1", kind: "Route" },
  horizontalpodautoscalers: { group: "autoscaling/v2", kind: "HorizontalPodAutoscaler" },
};

const RESOURCE =
  /^\/(?:api\/v1|apis\/([a-z.]+\/v[0-9a-z]+))\/namespaces\/([a-z0-9-]+)\/([a-z]+)\/([a-z0-9.-]+)(\/instantiate)?$/;

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

function status(res: ServerResponse, code: number, message: string): void {
  send(res, code, { kind: "Status", apiVersion: "v1", status: "Failure", message, code });
}

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
}

const comparable = (o: KubeLike) =>
  JSON.stringify({
    ...o,
    metadata: { ...o.metadata, resourceVersion: undefined, generation: undefined },
    status: undefined,
  });

export async function startFakeOpenShift(options: {
  token: string;
  project: string;
  scenario?: FakeScenario;
}): Promise<FakeOpenShift> {
  const scenario = options.scenario ?? "success";
  const objects = new Map<string, KubeLike>();
  const requests: FakeOpenShift["requests"] = [];
  const builds: string[] = [];
  const buildPolls = new Map<string, number>();
  let version = 1;
  let rolledOut = false;

  const rollout = (ns: string) => {
    for (const [path, object] of objects) {
      if (object.kind !== "Deployment" || object.metadata.namespace !== ns) continue;
      const replicas = (object.spec as { replicas?: number } | undefined)?.replicas ?? 1;
      const available = scenario === "rollout-timeout" ? 0 : replicas;
      objects.set(path, {
        ...object,
        status: {
          observedGeneration: object.metadata.generation,
          updatedReplicas: replicas,
          availableReplicas: available,
          readyReplicas: available,
        },
      });
      rolledOut = available > 0;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://fake");
    const path = url.pathname;
    if (path === "/v1/_ping" || path === "/v2/" || path === "/v2/_catalog") {
      if (!rolledOut) return status(res, 503, "Application is not available");
      res.writeHead(200, { "Content-Type": "application/json" });
      // An app with nothing published yet.
      res.end(path === "/v1/_ping" ? "true" : path === "/v2/" ? "{}" : '{"repositories":[]}');
      return;
    }
    const authorized = scenario !== "unauthorized" && req.headers.authorization === `Bearer ${options.token}`;
    requests.push({ method: req.method ?? "", path, authorized });
    if (!authorized) return status(res, 401, "Unauthorized");

    const project = /^\/apis\/project\.openshift\.io\/v1\/projects\/([a-z0-9-]+)$/.exec(path);
    if (project !== null && req.method === "GET") {
      if (scenario === "missing-project" || project[1] !== options.project) {
        return status(res, 403, `projects.project.openshift.io "${project[1]}" is forbidden`);
      }
      return send(res, 200, {
        kind: "Project",
        apiVersion: "project.openshift.io/v1",
        metadata: { name: project[1] },
      });
    }
    const match = RESOURCE.exec(path);
    if (match === null) return status(res, 404, `the fake does not serve ${path}`);
    const [, group = "v1", ns, plural = "", name = "", instantiate] = match;
    const kind = KINDS[plural];
    if (kind === undefined || kind.group !== group) return status(res, 404, `unknown resource ${plural}`);
    if (ns !== options.project) return status(res, 403, `namespace ${ns} is forbidden`);

    if (instantiate !== undefined && req.method === "POST" && plural === "buildconfigs") {
      const config = objects.get(path.replace(/\/instantiate$/, ""));
      if (config === undefined) return status(res, 404, `buildconfigs "${name}" not found`);
      const last = ((config.status as { lastVersion?: number } | undefined)?.lastVersion ?? 0) + 1;
      config.status = { lastVersion: last };
      const build = `${name}-${last}`;
      if (scenario === "malformed-build") return send(res, 201, { kind: "Build", metadata: {} });
      builds.push(build);
      const object: KubeLike = {
        apiVersion: kind.group,
        kind: "Build",
        metadata: { name: build, namespace: ns, resourceVersion: String(version++) },
        status: { phase: "New" },
      };
      objects.set(path.replace(/buildconfigs\/[^/]+\/instantiate$/, `builds/${build}`), object);
      return send(res, 201, object);
    }
    if (req.method === "GET") {
      const object = objects.get(path);
      if (object === undefined) return status(res, 404, `${plural} "${name}" not found`);
      if (object.kind === "Build") {
        // Builds advance as they are watched: New, Running, then their final phase.
        const polls = (buildPolls.get(path) ?? 0) + 1;
        buildPolls.set(path, polls);
        const phase =
          polls < 2 ? "New" : polls < 3 ? "Running" : scenario === "build-fails" ? "Failed" : "Complete";
        object.status =
          phase === "Failed" ? { phase, message: "Docker build strategy has failed." } : { phase };
        if (phase === "Complete") rollout(ns ?? "");
      }
      return send(res, 200, object);
    }
    if (req.method === "PATCH") {
      if (
        req.headers["content-type"] !== "application/apply-patch+yaml" ||
        url.searchParams.get("fieldManager") !== "raas"
      ) {
        return status(res, 415, "expected a server-side apply by fieldManager raas");
      }
      const object = (await body(req)) as KubeLike;
      if (
        object.kind !== kind.kind ||
        object.apiVersion !== kind.group ||
        object.metadata?.name !== name ||
        object.metadata.namespace !== ns
      ) {
        return status(res, 422, `the object is not ${kind.kind} ${ns}/${name}`);
      }
      const current = objects.get(path);
      if (
        current !== undefined &&
        comparable(current) === comparable({ ...object, status: current.status })
      ) {
        return send(res, 200, current);
      }
      const next: KubeLike = {
        ...object,
        metadata: {
          ...object.metadata,
          resourceVersion: String(version++),
          generation: (current?.metadata.generation ?? 0) + 1,
        },
        ...(current?.status === undefined ? {} : { status: current.status }),
      };
      objects.set(path, next);
      return send(res, current === undefined ? 201 : 200, next);
    }
    return status(res, 405, `${req.method} is not supported by the fake`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => status(res, 500, String(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token: options.token,
    scenario,
    requests,
    objects,
    builds,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
