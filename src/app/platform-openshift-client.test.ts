/**
 * The OpenShift client checks every answer before anything reads it. The API server here is
 * a STAND-IN (no cluster runs in tests): a node:http server on loopback that answers each path
 * with a fixed status and body, so each malformed answer can be played exactly.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../errors.js";
import { OpenShiftClient, resourcePath } from "./platform-openshift-client.js";
import {
  applyResources,
  ensureProject,
  latestBuild,
  startBuild,
  waitForRollout,
} from "./platform-openshift.js";

const NS = "acme";
const answers = new Map<string, { status: number; body: string }>();
let server: Server;
let client: OpenShiftClient;

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://stand-in").pathname;
    const answer = answers.get(`${req.method ?? ""} ${path}`) ?? { status: 404, body: "{}" };
    req.resume();
    res.writeHead(answer.status, { "Content-Type": "application/json" });
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  client = new OpenShiftClient({ serverUrl: `http://127.0.0.1:${port}`, token: "t" });
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const answer = (method: string, path: string, body: unknown, status = 200) =>
  answers.set(`${method} ${path}`, { status, body: typeof body === "string" ? body : JSON.stringify(body) });

/** The UserError a call throws (the test fails when it does not throw one). */
async function refusal(call: Promise<unknown>): Promise<UserError> {
  const error: unknown = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error instanceof UserError) return error;
  throw new Error(`expected a UserError, got ${String(error)}`);
}

const deployment = resourcePath("Deployment", NS, "registry");
const buildConfig = resourcePath("BuildConfig", NS, "registry");

describe("OpenShift answers are checked at the client", () => {
  it("reads a well-formed answer", async () => {
    answer("GET", deployment, {
      kind: "Deployment",
      metadata: { name: "registry", generation: 2 },
      spec: { replicas: 2 },
      status: { observedGeneration: 2, updatedReplicas: 2, availableReplicas: 2 },
    });
    expect(await waitForRollout(client, NS, "registry", { timeoutMs: 1000 })).toBe(2);
  });

  const malformed: [string, string, string, () => Promise<unknown>, unknown, RegExp][] = [
    [
      "a Deployment whose replica count is a string",
      "GET",
      deployment,
      () => waitForRollout(client, NS, "registry", { timeoutMs: 1000 }),
      { metadata: { name: "registry" }, status: { availableReplicas: "two" } },
      /status\.availableReplicas is not a replica count/,
    ],
    [
      "a Deployment that is a list",
      "GET",
      deployment,
      () => waitForRollout(client, NS, "registry", { timeoutMs: 1000 }),
      [{ metadata: { name: "registry" } }],
      /metadata is missing/,
    ],
    [
      "a BuildConfig without metadata",
      "GET",
      buildConfig,
      () => latestBuild(client, NS, "registry"),
      { kind: "BuildConfig", status: { lastVersion: 1 } },
      /metadata is missing/,
    ],
    [
      "a started build without a name",
      "POST",
      `${buildConfig}/instantiate`,
      () => startBuild(client, NS, "registry"),
      { kind: "Build", metadata: {} },
      /metadata\.name is missing/,
    ],
    [
      "a project answer that is not JSON",
      "GET",
      `/apis/project.openshift.io/v1/projects/${NS}`,
      () => ensureProject(client, NS),
      "<html>log in</html>",
      /with a body that is not JSON/,
    ],
    [
      "an apply answer with a numeric resourceVersion",
      "PATCH",
      resourcePath("Service", NS, "registry"),
      () =>
        applyResources(client, [
          { apiVersion: "v1", kind: "Service", metadata: { name: "registry", namespace: NS } },
        ]),
      { kind: "Service", metadata: { name: "registry", resourceVersion: 7 } },
      /metadata\.resourceVersion is not a resource version/,
    ],
  ];
  for (const [what, method, path, call, body, problem] of malformed) {
    it(`refuses ${what}, naming the request`, async () => {
      answer(method, path, body);
      const error = await refusal(call());
      expect(error.code).toBe("OPENSHIFT_BAD_RESPONSE");
      expect(error.message).toContain(`answered ${method} ${path} with a body that`);
      expect(error.message).toContain(client.serverUrl);
      expect(error.message).toMatch(problem);
      expect(error.hint).toMatch(/server_url/);
      // The body is never echoed: it may hold a Secret's data.
      expect(error.message).not.toContain("log in");
    });
  }

  it("shows only the readable message of an error answer", async () => {
    answer("GET", deployment, { kind: "Status", message: "deployments is forbidden", code: 403 }, 403);
    const error = await refusal(waitForRollout(client, NS, "registry", { timeoutMs: 1000 }));
    expect(error.code).toBe("OPENSHIFT_FORBIDDEN");
    expect(error.message).toBe(`OpenShift API GET ${deployment} answered 403: deployments is forbidden`);
  });
});
