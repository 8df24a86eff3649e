/**
 * The OpenShift platform: the app's resources (templates/app/openshift: BuildConfig from the
 * app git repository, ImageStream, Deployment, Service, edge-TLS Route, HPA) are applied with
 * server-side apply, so a second setup changes nothing; a build runs only when the app
 * repository or its resources changed or the last build did not complete; then setup waits
 * for the build and the rollout, each with a timeout.
 */
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as v from "valibot";
import type { IsvSettings, OpenShiftPlatformSettings } from "../config/types.js";
import { UserError } from "../errors.js";
import { templateVars } from "./app-repo.js";
import { OpenShiftClient, resourcePath } from "./platform-openshift-client.js";
import {
  BuildConfigResponse,
  BuildResponse,
  DeploymentResponse,
  issueText,
  KubeObjectSchema,
  KubeResponse,
  type KubeObject,
} from "./platform-openshift-schemas.js";
import { parseTemplateYaml } from "./platform-openshift-yaml.js";
import { renderTemplateDir } from "./templates.js";

export { OpenShiftClient } from "./platform-openshift-client.js";

export function openshiftPlatform(settings: IsvSettings): OpenShiftPlatformSettings {
  if (settings.platform.kind !== "openshift") throw new Error(`${settings.isv} is not on OpenShift`);
  return settings.platform;
}

export function openshiftClient(settings: IsvSettings, log?: (line: string) => void): OpenShiftClient {
  const platform = openshiftPlatform(settings);
  if (platform.token === undefined || platform.token === "") {
    throw new UserError(`no OpenShift token for ${platform.serverUrl}`, {
      code: "OPENSHIFT_NO_TOKEN",
      hint: "Set RAAS_OPENSHIFT_TOKEN (or [openshift] token); `oc whoami -t` prints yours.",
    });
  }
  return new OpenShiftClient({
    serverUrl: platform.serverUrl,
    token: platform.token,
    ...(log === undefined ? {} : { log }),
  });
}

/** The project must exist: raas works inside it and never creates projects (that is an admin's call). */
export async function ensureProject(client: OpenShiftClient, namespace: string): Promise<void> {
  const project = await client
    .get(`/apis/project.openshift.io/v1/projects/${namespace}`, KubeResponse)
    .catch((error: unknown) => {
      if (error instanceof UserError && error.code === "OPENSHIFT_FORBIDDEN") return undefined;
      throw error;
    });
  if (project === undefined) {
    throw new UserError(
      `the OpenShift project ${namespace} does not exist on ${client.serverUrl} (or the token cannot see it)`,
      {
        code: "OPENSHIFT_NO_PROJECT",
        hint: `Create it with \`oc new-project ${namespace}\` and give the token's user the edit role, or name another with --oodomain.`,
      },
    );
  }
}

/** The resources setup applies, rendered from the same templates that are committed to the app repository. */
export async function renderResources(settings: IsvSettings, root: string): Promise<KubeObject[]> {
  const dir = path.join(root, "templates", "app", "openshift");
  const files = await renderTemplateDir(dir, templateVars(settings));
  return files.map((file) => {
    const where = `templates/app/openshift/${file.path}`;
    const result = v.safeParse(KubeObjectSchema, parseTemplateYaml(file.data, where));
    if (result.success) return result.output;
    throw new Error(`${where} is not a Kubernetes object: ${issueText(result.issues[0])}`);
  });
}

/**
 * The storage credentials for presigned redirects, as a Secret the Deployment reads through
 * envFrom. Only the API sees the values; nothing here is logged or committed.
 */
export function storageSecret(settings: IsvSettings): KubeObject | undefined {
  const platform = openshiftPlatform(settings);
  const storage = settings.storage;
  // With [auth] on, private repositories get presigned redirects in any redirect mode.
  const presigns =
    storage.kind === "s3" && (storage.redirect === "presigned" || (settings.auth?.mode ?? "off") !== "off");
  if (storage.kind !== "s3" || !presigns || storage.credentials === undefined) {
    return undefined;
  }
  const b64 = (value: string) => Buffer.from(value, "utf8").toString("base64");
  const data: Record<string, string> = {
    AWS_ACCESS_KEY_ID: b64(storage.credentials.accessKeyId),
    AWS_SECRET_ACCESS_KEY: b64(storage.credentials.secretAccessKey),
  };
  if (storage.credentials.sessionToken !== undefined) {
    data.AWS_SESSION_TOKEN = b64(storage.credentials.sessionToken);
  }
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: `${platform.appName}-storage`,
      namespace: platform.namespace,
      labels: { app: platform.appName, "raas.io/isv": settings.isv },
    },
    type: "Opaque",
    data,
  };
}

/** The token-signing keys ([auth] mode = local) as a Secret mounted at /var/run/raas-auth. */
export function authKeySecret(settings: IsvSettings, keyFileText: string): KubeObject {
  const platform = openshiftPlatform(settings);
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: `${platform.appName}-auth-keys`,
      namespace: platform.namespace,
      labels: { app: platform.appName, "raas.io/isv": settings.isv },
    },
    type: "Opaque",
    data: { "auth-keys.json": Buffer.from(keyFileText, "utf8").toString("base64") },
  };
}

export interface AppliedResource {
  kind: string;
  name: string;
  changed: boolean;
}

/** Apply each object; `changed` when it was created or its resourceVersion moved. */
export async function applyResources(
  client: OpenShiftClient,
  objects: readonly KubeObject[],
): Promise<AppliedResource[]> {
  const out: AppliedResource[] = [];
  for (const object of objects) {
    const namespace = object.metadata.namespace ?? "";
    const before = await client.get(resourcePath(object.kind, namespace, object.metadata.name), KubeResponse);
    const after = await client.apply(object);
    out.push({
      kind: object.kind,
      name: object.metadata.name,
      changed: before === undefined || before.metadata.resourceVersion !== after.metadata.resourceVersion,
    });
  }
  return out;
}

const BUILD_DONE = new Set(["Complete", "Failed", "Error", "Cancelled"]);

/** The newest build of the BuildConfig, if any. */
export async function latestBuild(
  client: OpenShiftClient,
  namespace: string,
  name: string,
): Promise<BuildResponse | undefined> {
  const config = await client.get(resourcePath("BuildConfig", namespace, name), BuildConfigResponse);
  const version = config?.status?.lastVersion ?? 0;
  if (version === 0) return undefined;
  return client.get(resourcePath("Build", namespace, `${name}-${version}`), BuildResponse);
}

export async function startBuild(client: OpenShiftClient, namespace: string, name: string): Promise<string> {
  const build = await client.post(
    `${resourcePath("BuildConfig", namespace, name)}/instantiate`,
    { kind: "BuildRequest", apiVersion: "build.openshift.io/v1", metadata: { name } },
    BuildResponse,
  );
  return build.metadata.name;
}

export interface WaitOptions {
  timeoutMs: number;
  /** First poll interval; it grows by half each time up to 5 s (builds take minutes, tests milliseconds). */
  intervalMs?: number;
  progress?: (text: string) => void;
}

export async function waitForBuild(
  client: OpenShiftClient,
  namespace: string,
  build: string,
  options: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let phase = "New";
  let interval = options.intervalMs ?? 250;
  for (;;) {
    const object = await client.get(resourcePath("Build", namespace, build), BuildResponse);
    phase = object?.status?.phase ?? "New";
    options.progress?.(`build ${build}: ${phase}`);
    if (phase === "Complete") return;
    if (BUILD_DONE.has(phase)) {
      const why = object?.status?.message ?? object?.status?.reason ?? "";
      throw new UserError(
        `the OpenShift build ${build} in ${namespace} ended ${phase}${why === "" ? "" : `: ${why}`}`,
        {
          code: "OPENSHIFT_BUILD_FAILED",
          hint: `See its log with \`oc logs build/${build} -n ${namespace}\`; fix the app repository and run setup again.`,
        },
      );
    }
    if (Date.now() > deadline) {
      throw new UserError(
        `the OpenShift build ${build} in ${namespace} did not finish within ${Math.round(options.timeoutMs / 1000)} s (last phase ${phase})`,
        {
          code: "OPENSHIFT_BUILD_TIMEOUT",
          hint: "Run setup again with a longer --timeout; it waits for the running build instead of starting another.",
        },
      );
    }
    await sleep(interval);
    interval = Math.min(interval * 1.5, 5000);
  }
}

/** Rollout state in the words of `oc rollout status`; undefined when complete. */
function rolloutProblem(deployment: DeploymentResponse | undefined): string | undefined {
  if (deployment === undefined) return "the deployment does not exist";
  const want = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  if ((status.observedGeneration ?? 0) < (deployment.metadata.generation ?? 0)) {
    return "waiting for the deployment spec update to be observed";
  }
  if ((status.updatedReplicas ?? 0) < want) {
    return `${status.updatedReplicas ?? 0} of ${want} replicas updated`;
  }
  if ((status.availableReplicas ?? 0) < want) {
    return `${status.availableReplicas ?? 0} of ${want} updated replicas available`;
  }
  return undefined;
}

export async function waitForRollout(
  client: OpenShiftClient,
  namespace: string,
  name: string,
  options: WaitOptions,
): Promise<number> {
  const deadline = Date.now() + options.timeoutMs;
  let interval = options.intervalMs ?? 250;
  for (;;) {
    const deployment = await client.get(resourcePath("Deployment", namespace, name), DeploymentResponse);
    const problem = rolloutProblem(deployment);
    if (problem === undefined) return deployment?.spec?.replicas ?? 1;
    options.progress?.(`rollout of ${name}: ${problem}`);
    if (Date.now() > deadline) {
      throw new UserError(
        `the rollout of ${name} in ${namespace} did not finish within ${Math.round(options.timeoutMs / 1000)} s: ${problem}`,
        {
          code: "OPENSHIFT_ROLLOUT_TIMEOUT",
          hint: `See \`oc describe deployment/${name} -n ${namespace}\` and the pods' events (image pull, readiness probe on /v2/).`,
        },
      );
    }
    await sleep(interval);
    interval = Math.min(interval * 1.5, 5000);
  }
}

/** For `raas status`: the project exists and the deployment is rolled out. */
export async function openshiftHealth(
  client: OpenShiftClient,
  settings: IsvSettings,
): Promise<{ ok: boolean; detail: string }> {
  const platform = openshiftPlatform(settings);
  await ensureProject(client, platform.namespace);
  const deployment = await client.get(
    resourcePath("Deployment", platform.namespace, platform.appName),
    DeploymentResponse,
  );
  const problem = rolloutProblem(deployment);
  return problem === undefined
    ? {
        ok: true,
        detail: `project ${platform.namespace}: ${platform.appName} has ${deployment?.status?.availableReplicas ?? 0} replica(s) available`,
      }
    : { ok: false, detail: `project ${platform.namespace}: ${problem}` };
}
