/**
 * A small OpenShift 4 / Kubernetes REST client: a bearer token over node's fetch, JSON in and
 * out, one debug line per request (method, path, status, time; never the token or a body).
 * Errors become UserErrors naming the API server and what to do.
 */
import { UserError, errorMessage } from "../errors.js";
import { discardBody, textCapped } from "../adapters/http-body.js";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface OpenShiftClientOptions {
  serverUrl: string;
  token: string;
  log?: (line: string) => void;
  /** Per-request timeout. */
  timeoutMs?: number;
}

/** Where each kind lives in the API (group/version and plural), for the kinds raas applies. */
/** An OpenShift API answer larger than this (a list of every object in a huge namespace) is refused. */
const API_BODY_LIMIT = 64 * 1024 * 1024;

const RESOURCES: Record<string, { base: string; plural: string }> = {
  BuildConfig: { base: "/apis/build.openshift.io/v1", plural: "buildconfigs" },
  Build: { base: "/apis/build.openshift.io/v1", plural: "builds" },
  ImageStream: { base: "/apis/image.openshift.io/v1", plural: "imagestreams" },
  Deployment: { base: "/apis/apps/v1", plural: "deployments" },
  Service: { base: "/api/v1", plural: "services" },
  Secret: { base: "/api/v1", plural: "secrets" },
  Route: { base: "/apis/route.openshift.io/v1", plural: "routes" },
  HorizontalPodAutoscaler: { base: "/apis/autoscaling/v2", plural: "horizontalpodautoscalers" },
};

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function resourcePath(kind: string, namespace: string, name?: string): string {
  const resource = RESOURCES[kind];
  if (resource === undefined) throw new Error(`raas does not manage ${kind} resources`);
  for (const part of name === undefined ? [namespace] : [namespace, name]) {
    if (!NAME.test(part)) {
      throw new UserError(`${JSON.stringify(part)} is not a valid OpenShift resource name`);
    }
  }
  const collection = `${resource.base}/namespaces/${namespace}/${resource.plural}`;
  return name === undefined ? collection : `${collection}/${name}`;
}

export class OpenShiftClient {
  readonly serverUrl: string;

  constructor(private readonly options: OpenShiftClientOptions) {
    this.serverUrl = options.serverUrl.replace(/\/+$/, "");
  }

  /** GET a resource; undefined when it does not exist. */
  async get<T = KubeObject>(path: string): Promise<T | undefined> {
    const response = await this.request("GET", path);
    if (response.status === 404) return undefined;
    return (await this.json(response, "GET", path)) as T;
  }

  async post<T = KubeObject>(path: string, body: unknown): Promise<T> {
    const response = await this.request("POST", path, body, "application/json");
    return (await this.json(response, "POST", path)) as T;
  }

  /** Server-side apply: idempotent, and a no-op (same resourceVersion) when nothing changed. */
  async apply(object: KubeObject): Promise<KubeObject> {
    const path = `${resourcePath(object.kind, object.metadata.namespace ?? "", object.metadata.name)}?fieldManager=raas&force=true`;
    const response = await this.request("PATCH", path, object, "application/apply-patch+yaml");
    return (await this.json(response, "PATCH", path)) as KubeObject;
  }

  private async request(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<Response> {
    const url = `${this.serverUrl}${path}`;
    const started = Date.now();
    const shown = path.split("?")[0] ?? path;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          Authorization: `Bearer ${this.options.token}`,
          Accept: "application/json",
          ...(contentType === undefined ? {} : { "Content-Type": contentType }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
        redirect: "error",
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      this.options.log?.(`OpenShift ${method} ${shown} failed after ${Date.now() - started} ms: ${cause}`);
      throw new UserError(`cannot reach the OpenShift API at ${this.serverUrl} (${cause})`, {
        code: "OPENSHIFT_UNREACHABLE",
        hint: "Check [openshift] server_url and the network path to the cluster.",
        cause: error,
      });
    }
    this.options.log?.(`OpenShift ${method} ${shown} -> ${response.status} (${Date.now() - started} ms)`);
    if (response.status === 401) {
      await discardBody(response);
      throw new UserError(`the OpenShift API at ${this.serverUrl} rejected the token (401 Unauthorized)`, {
        code: "OPENSHIFT_UNAUTHORIZED",
        hint: "Set a valid token in [openshift] token or RAAS_OPENSHIFT_TOKEN (`oc whoami -t` prints yours); tokens expire.",
      });
    }
    return response;
  }

  private async json(response: Response, method: string, path: string): Promise<unknown> {
    const text = await textCapped(response, API_BODY_LIMIT).catch((err: unknown) => {
      throw new UserError(`OpenShift API ${method} ${path.split("?")[0] ?? path}: ${errorMessage(err)}`);
    });
    if (response.ok) return JSON.parse(text) as unknown;
    // Kubernetes Status objects carry a readable message; never echo anything else verbatim.
    let message = "";
    try {
      message = String((JSON.parse(text) as { message?: unknown }).message ?? "");
    } catch {
      message = "";
    }
    const shown = path.split("?")[0] ?? path;
    throw new UserError(
      `OpenShift API ${method} ${shown} answered ${response.status}${message === "" ? "" : `: ${message.slice(0, 300)}`}`,
      {
        code: response.status === 403 ? "OPENSHIFT_FORBIDDEN" : "OPENSHIFT_API_ERROR",
        hint:
          response.status === 403
            ? "The token's user lacks a permission in this project; ask for the edit role (`oc adm policy add-role-to-user edit <user> -n <project>`)."
            : "Run with --log debug to see every API request.",
      },
    );
  }
}
