/** Resolve everything one ISV's commands need from the loaded configuration. */
import * as path from "node:path";
import { UsageError, UserError } from "../errors.js";
import { isIsvName } from "../image/names.js";
import { reservedIsvName } from "./environments.js";
import { allocatePort, FIRST_PORT, knownPort } from "./ports.js";
import type {
  EnvironmentSection,
  EnvironmentSettings,
  IsvSection,
  IsvSettings,
  IsvTlsSettings,
  OpenShiftPlatformSettings,
  PlatformSettings,
  RaasConfig,
  StorageSettings,
} from "./types.js";
import { BadValue, bucket as parseBucket, port as parsePort } from "./values.js";

export interface IsvOverrides {
  /** `--port`. */
  port?: number;
  /** `--s3bucket`. */
  bucket?: string;
  /**
   * Allocate and remember a port for an ISV that has none yet (setup). Other commands only read
   * it, so a mistyped ISV name leaves nothing behind in the state directory.
   */
  allocate?: boolean;
  /** The lifecycle environment (`--env`); required for an ISV that declares environments. */
  env?: string;
}

function storageFor(
  config: RaasConfig,
  isv: string,
  section: IsvSection,
  isvDir: string,
  bucket?: string,
): StorageSettings {
  if ((section.storage ?? config.storage) === "local") {
    return { kind: "local", root: path.join(isvDir, "storage") };
  }
  const { aws, s3 } = config;
  const credentials =
    aws.accessKeyId !== undefined && aws.secretAccessKey !== undefined
      ? {
          accessKeyId: aws.accessKeyId,
          secretAccessKey: aws.secretAccessKey,
          ...(aws.sessionToken === undefined ? {} : { sessionToken: aws.sessionToken }),
        }
      : undefined;
  return {
    kind: "s3",
    bucket: bucket ?? section.s3Bucket ?? `raas-${isv}`,
    endpoint: s3.endpoint,
    region: s3.region,
    // AWS prefers virtual-host style; most self-hosted S3 services only route path style.
    forcePathStyle: s3.forcePathStyle ?? s3.endpoint !== undefined,
    credentials,
    publicRead: s3.publicRead,
    redirect: s3.redirect,
    presignTtl: s3.presignTtl,
    partSize: s3.partSize,
    concurrency: s3.concurrency,
    publicBaseUrl: s3.publicBaseUrl,
  };
}

/** OpenShift 4 routes default to <name>-<namespace>.apps.<cluster>, the API being api.<cluster>. */
function defaultRouteHost(serverUrl: string, name: string, namespace: string): string | undefined {
  const host = new URL(serverUrl).hostname;
  return host.startsWith("api.") ? `${name}-${namespace}.apps.${host.slice(4)}` : undefined;
}

function openshiftFor(config: RaasConfig, isv: string, section: IsvSection, errors: string[], label = isv) {
  const serverUrl = config.openshift.serverUrl;
  const namespace = section.openshiftDomain ?? isv;
  const appName = section.openshiftApp ?? "registry";
  if (serverUrl === undefined) errors.push("[openshift] server_url is required for platform = openshift");
  if (section.appGitUrl === undefined) {
    errors.push(`[${label}] app_git_url is required for platform = openshift`);
  }
  const routeHost =
    section.appUrl === undefined
      ? serverUrl === undefined
        ? undefined
        : defaultRouteHost(serverUrl, appName, namespace)
      : new URL(section.appUrl).hostname;
  if (routeHost === undefined && serverUrl !== undefined) {
    errors.push(`[${label}] app_url is required: the route host cannot be derived from ${serverUrl}`);
  }
  if (serverUrl === undefined || routeHost === undefined || section.appGitUrl === undefined) return undefined;
  const platform: OpenShiftPlatformSettings = {
    kind: "openshift",
    serverUrl,
    token: config.openshift.token,
    namespace,
    appName,
    scale: section.openshiftScale ?? true,
    follow: section.openshiftFollow ?? false,
    routeHost,
  };
  return { platform, appRemote: section.appGitUrl, appUrl: section.appUrl ?? `https://${routeHost}` };
}

/** Where the local platform's TLS material lives (docs/configuration.md, HTTPS). */
export const TLS_DIR = "tls";
export const CERT_DIR = "certs";
/** raas's local CA, shared by the ISVs of a state directory; not an ISV name (those have no dash). */
export const CA_DIR = "raas-ca";

/** A URL host as a certificate names it: `[::1]` is the address `::1`. */
const bareHost = (host: string) => host.replace(/^\[(.*)\]$/, "$1");

/**
 * HTTPS of the local registry: on unless `[raas] tls` (or the ISV's `tls`) is off; the
 * operator's certificate when `tls_cert` is set, else one from raas's local CA. The certificate
 * names localhost, 127.0.0.1, ::1 and the host of `app_url`.
 */
function localTls(
  config: RaasConfig,
  section: IsvSection,
  isvDir: string,
  isv: string,
  errors: string[],
): IsvTlsSettings | undefined {
  const enabled = section.tls ?? config.tls.enabled;
  if (section.appUrl !== undefined) {
    const scheme = new URL(section.appUrl).protocol;
    if (enabled && scheme !== "https:") {
      errors.push(
        `[${isv}] app_url ${section.appUrl}: the local registry serves HTTPS; use https:// or set tls = off`,
      );
    } else if (!enabled && scheme !== "http:") {
      errors.push(
        `[${isv}] app_url ${section.appUrl}: tls is off, so the local registry serves plain HTTP; use http://`,
      );
    }
  }
  if (!enabled) return undefined;
  const hosts = ["localhost", "127.0.0.1", "::1"];
  const configured = section.appUrl === undefined ? undefined : bareHost(new URL(section.appUrl).hostname);
  if (configured !== undefined && !hosts.includes(configured)) hosts.push(configured);
  const { cert, key, ca } = config.tls;
  if (cert !== undefined && key !== undefined) {
    return {
      managed: false,
      certFile: cert,
      keyFile: key,
      caFile: ca,
      certDir: ca === undefined ? undefined : path.join(isvDir, CERT_DIR),
      hosts,
    };
  }
  return {
    managed: true,
    certFile: path.join(isvDir, TLS_DIR, "server.crt"),
    keyFile: path.join(isvDir, TLS_DIR, "server.key"),
    caFile: path.join(config.stateDir, CA_DIR, "ca.crt"),
    certDir: path.join(isvDir, CERT_DIR),
    hosts,
  };
}

/**
 * Validate the ISV name and resolve its storage, platform and app repository. On the local
 * platform this allocates (once) and records the ISV's port. Every problem is reported at once.
 */
export async function resolveIsv(
  config: RaasConfig,
  isv: string,
  overrides: IsvOverrides = {},
): Promise<IsvSettings> {
  if (!isIsvName(isv)) {
    throw new UsageError(`${JSON.stringify(isv)} is not a valid ISV name`, {
      hint: "ISV names are 1-16 lower-case letters and digits.",
    });
  }
  const reserved = reservedIsvName(isv);
  if (reserved !== undefined) {
    throw new UsageError(reserved, {
      hint: "events and retention are raas.cfg section families (docs/events.md, docs/gc.md).",
    });
  }
  const errors: string[] = [];
  const check = <T>(parse: (raw: string) => T, raw: string, what: string): void => {
    try {
      parse(raw);
    } catch (err) {
      if (err instanceof BadValue) errors.push(`${what}: ${err.message}`);
      else throw err;
    }
  };
  if (overrides.bucket !== undefined) check(parseBucket, overrides.bucket, "--s3bucket");
  if (overrides.port !== undefined) check(parsePort, String(overrides.port), "--port");

  const isvSection = config.isvs[isv] ?? {};
  const environment = environmentOf(config, isv, isvSection, overrides.env);
  const envSection =
    environment === undefined ? {} : (config.environmentSections?.[isv]?.[environment.name] ?? {});
  const section =
    environment === undefined ? isvSection : environmentView(isv, isvSection, envSection, environment.name);
  const label = environment === undefined ? isv : `${isv}.${environment.name}`;
  if ((section.auth ?? config.auth.mode) === "external") {
    const ext = config.auth.external;
    if (ext.realm === undefined) errors.push("[auth] external_realm: required when the mode is external");
    if (ext.issuer === undefined) errors.push("[auth] external_issuer: required when the mode is external");
    if ((ext.rootCerts === undefined) === (ext.jwks === undefined)) {
      errors.push("[auth]: mode external needs exactly one of external_root_certs and external_jwks");
    }
  }
  // An environment keeps its platform state, app repository and deploy directory apart from the
  // ISV's (`<isv>.<env>` cannot be an ISV name), and its blobs in the ISV's store unless it has its own.
  const isvDir = path.join(config.stateDir, label);
  const storage =
    environment === undefined || !environment.sharedStore
      ? storageFor(config, isv, section, isvDir, overrides.bucket)
      : storageFor(config, isv, isvSection, path.join(config.stateDir, isv), overrides.bucket);
  const appWorkDir = path.join(isvDir, "app");
  const appBranch = section.appGitBranch ?? config.openshift.appGitBranch;

  let platform: PlatformSettings | undefined;
  let appRemote = path.join(isvDir, "app.git");
  let appUrl = "";
  let tls: IsvTlsSettings | undefined;
  if ((section.platform ?? config.platform) === "openshift") {
    const resolved = openshiftFor(config, isv, section, errors, label);
    if (resolved !== undefined) ({ platform, appRemote, appUrl } = resolved);
  } else if (section.appGitUrl !== undefined) {
    // The local platform makes its own remote (with the deploy hook); a URL set here would be
    // silently ignored while raas publishes elsewhere.
    errors.push(
      `[${label}] app_git_url is read only with platform = openshift; the local platform's app repository is ${appRemote}`,
    );
  } else if (errors.length === 0) {
    const port =
      overrides.port ??
      section.port ??
      (overrides.allocate === false
        ? ((await knownPort(config.stateDir, label)) ?? FIRST_PORT)
        : await allocatePort(config.stateDir, label));
    platform = {
      kind: "local",
      dir: isvDir,
      host: "127.0.0.1",
      port,
      deployDir: path.join(isvDir, "deploy"),
      logFile: path.join(isvDir, "server.log"),
      pidFile: path.join(isvDir, "server.pid"),
    };
    tls = localTls(config, section, isvDir, isv, errors);
    appUrl = section.appUrl ?? `${tls === undefined ? "http" : "https"}://127.0.0.1:${port}`;
  }
  if (errors.length > 0 || platform === undefined) {
    throw new UserError(`cannot set up ${label}:\n${errors.map((e) => `  - ${e}`).join("\n")}`, {
      code: "BAD_CONFIG",
      hint: "raas.cfg.template documents every option.",
    });
  }
  return {
    isv,
    stateDir: config.stateDir,
    isvDir,
    storage,
    platform,
    appUrl,
    appRemote,
    appBranch,
    appWorkDir,
    deployDir: platform.kind === "local" ? platform.deployDir : undefined,
    maskLayers: config.maskLayers,
    dockerSchema2: config.dockerSchema2,
    maxInflatedLayer: config.maxInflatedLayer,
    auth: { ...config.auth, mode: section.auth ?? config.auth.mode },
    ...(config.push === undefined && section.push === undefined
      ? {}
      : {
          push: {
            ...(config.push ?? { enable: false, allowDelete: false, writeOnceTags: [] }),
            enable: section.push ?? config.push?.enable ?? false,
          },
        }),
    events: config.events ?? [],
    retention: config.retention?.[isv] ?? [],
    ...(tls === undefined ? {} : { tls }),
    ...(environment === undefined ? {} : { environment }),
  };
}

/** The environment `env` names, checked against the ISV's declaration (undefined: no environments). */
function environmentOf(
  config: RaasConfig,
  isv: string,
  section: IsvSection,
  env: string | undefined,
): EnvironmentSettings | undefined {
  const all = section.environments ?? [];
  if (env === undefined) {
    if (all.length === 0) return undefined;
    throw new UsageError(`${isv} has environments (${all.join(", ")}): say which one with --env`, {
      hint: `For example: --env ${all[0] ?? ""}`,
    });
  }
  // The value is echoed back, so at a bounded length: it can be anything a shell passes.
  const shown = JSON.stringify(env.length > 64 ? `${env.slice(0, 64)}…` : env);
  if (all.length === 0) {
    throw new UsageError(`${isv} has no environments, so --env ${shown} means nothing`, {
      hint: `Declare them in the [${isv}] section of raas.cfg: environments = test prod (docs/environments.md).`,
    });
  }
  if (!all.includes(env)) {
    throw new UsageError(`${isv} has no environment ${shown}`, {
      hint: `Its environments: ${all.join(", ")}.`,
    });
  }
  const shares = (name: string) => {
    const own = config.environmentSections?.[isv]?.[name] ?? {};
    return own.store !== "own" && own.s3Bucket === undefined;
  };
  const sharedStore = shares(env);
  return {
    name: env,
    all: [...all],
    sharedStore,
    // The first environment sharing the store keeps the plain records (docs/environments.md).
    ownRecords: sharedStore && all.find(shares) !== env,
    promoteOnly: (section.promoteOnly ?? []).includes(env),
  };
}

/**
 * The ISV's section as one environment sees it: the environment's own keys win; its OpenShift
 * app is `<env>-<app>` and its route host `<env>-<host>` (test-registry.example.com), its bucket
 * (with a store of its own) `raas-<isv>-<env>`. The port and app repository are never inherited.
 */
function environmentView(isv: string, section: IsvSection, own: EnvironmentSection, env: string): IsvSection {
  const inheritedUrl =
    section.appUrl === undefined
      ? undefined
      : (() => {
          const url = new URL(section.appUrl);
          url.hostname = `${env}-${url.hostname}`;
          return url.toString().replace(/\/$/, "");
        })();
  const view: IsvSection = { ...section };
  delete view.port;
  delete view.appUrl;
  delete view.appGitUrl;
  if (own.port !== undefined) view.port = own.port;
  const appUrl = own.appUrl ?? inheritedUrl;
  if (appUrl !== undefined) view.appUrl = appUrl;
  if (own.appGitUrl !== undefined) view.appGitUrl = own.appGitUrl;
  if (own.appGitBranch !== undefined) view.appGitBranch = own.appGitBranch;
  view.openshiftApp = own.openshiftApp ?? `${env}-${section.openshiftApp ?? "registry"}`;
  if (own.store === "own" || own.s3Bucket !== undefined) {
    view.s3Bucket = own.s3Bucket ?? `${section.s3Bucket ?? `raas-${isv}`}-${env}`;
  }
  return view;
}
