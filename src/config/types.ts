import type { EndpointConfig } from "../events/config.js";
import type { RetentionRule } from "./retention.js";
/** The typed, defaulted configuration (after merging defaults < file < env < flags). */
export type StorageKind = "local" | "s3";
export type PlatformKind = "local" | "openshift";
/** How the registry app sends clients to S3 blobs: a public URL, or a presigned one. */
export type RedirectMode = "public" | "presigned";
/** Who may pull: nobody needs a login (off), raas issues tokens (local), or another server does. */
export type AuthMode = "off" | "local" | "external";

/** `[auth]` (docs/auth.md, docs/configuration.md). */
export interface AuthConfig {
  mode: AuthMode;
  /** Lifetime of the access tokens raas issues. */
  tokenTtl: number;
  /** Lifetime of a web page login (the registry's default, one hour, when unset). */
  sessionTtl?: number;
  /** Seconds a presigned redirect to a private repository's content stays valid. */
  privateBlobTtl: number;
  /** Also accept HTTP Basic on registry requests. */
  basic: boolean;
  external: {
    realm: string | undefined;
    issuer: string | undefined;
    service: string | undefined;
    /** Absolute paths (relative ones are resolved against raas.cfg). */
    rootCerts: string | undefined;
    jwks: string | undefined;
  };
  /**
   * The registry login `raas status` and `push --wait` use to check private tags: a user or
   * service-login name, and a file holding its password or token (absolute path).
   */
  login?: { name: string | undefined; secretFile: string | undefined; from?: LoginOrigin };
}

/**
 * Where each half of the registry login was set: `[auth] login` / `[auth] login_secret_file`
 * in raas.cfg, or RAAS_REGISTRY_LOGIN / RAAS_REGISTRY_SECRET_FILE. Messages about the login
 * name these, so a refusal points at what was actually used.
 */
export interface LoginOrigin {
  name: string;
  secretFile: string;
}

/** `[raas] tls`, `tls_cert`, `tls_key`, `tls_ca` (docs/configuration.md, HTTPS). */
export interface TlsConfig {
  /** The local registry serves HTTPS (default); false only when asked for. */
  enabled: boolean;
  /** The operator's certificate and key (absolute paths); undefined: raas's own local CA. */
  cert: string | undefined;
  key: string | undefined;
  /** The CA that signed the operator's certificate, for raas's own checks (absolute path). */
  ca: string | undefined;
}

/** `[push]` (docs/push-api.md): the registry's write API, as `raas setup` writes it into registry.conf. */
export interface PushConfig {
  /** On for every ISV (an ISV's `push` key overrides it). */
  enable: boolean;
  /** Serve manifest and tag DELETE. */
  allowDelete: boolean;
  /** Bytes; the registry's default (16 GiB) when unset. */
  maxBlobSize?: number;
  /** Repository name prefixes whose tags never move. */
  writeOnceTags: string[];
  /** Seconds an upload session may sit untouched; the registry's default (1 day) when unset. */
  uploadMaxAge?: number;
}

export interface S3Config {
  /** Custom endpoint (MinIO, Ceph RGW, R2...); undefined means AWS. */
  endpoint: string | undefined;
  region: string;
  /** Path-style addressing; undefined means "yes for a custom endpoint, no for AWS". */
  forcePathStyle: boolean | undefined;
  redirect: RedirectMode;
  publicRead: boolean;
  /** Seconds a presigned URL stays valid. */
  presignTtl: number;
  /** Multipart upload part size in bytes. */
  partSize: number;
  /** Parallel part uploads per blob. */
  concurrency: number;
  /** Base URL clients are redirected to for public blobs (a CDN); undefined means the bucket URL. */
  publicBaseUrl: string | undefined;
}

/** One `[<isv>]` section; every key is optional and falls back to the global settings. */
export interface IsvSection {
  storage?: StorageKind;
  platform?: PlatformKind;
  port?: number;
  appUrl?: string;
  appGitUrl?: string;
  appGitBranch?: string;
  s3Bucket?: string;
  /** Overrides `[auth] mode` for this ISV. */
  auth?: AuthMode;
  /** Overrides `[raas] tls` for this ISV. */
  tls?: boolean;
  openshiftDomain?: string;
  openshiftApp?: string;
  openshiftScale?: boolean;
  openshiftFollow?: boolean;
  openshiftGearSize?: string;
  /** Lifecycle environments (`environments = test uat prod`), in promotion order (docs/environments.md). */
  environments?: string[];
  /** Environments that only receive images by promotion: `raas push --env` to them is refused. */
  promoteOnly?: string[];
  /** Overrides `[push] enable` for this ISV. */
  push?: boolean;
}

/** One `[<isv>.<env>]` section: what differs for one lifecycle environment of an ISV. */
export interface EnvironmentSection {
  port?: number;
  appUrl?: string;
  appGitUrl?: string;
  appGitBranch?: string;
  /** Own bucket on S3 (implies `store = own`). */
  s3Bucket?: string;
  /** `shared` (default): the ISV's store, promotion moves no bytes; `own`: a store of its own. */
  store?: "shared" | "own";
  openshiftApp?: string;
}

/** The lifecycle environment a command acts on (absent for an ISV without environments). */
export interface EnvironmentSettings {
  name: string;
  /** Every environment of the ISV, in promotion order. */
  all: string[];
  /** Uses the ISV's store (true) or a store of its own (false). */
  sharedStore: boolean;
  /**
   * On a shared store, whether its registry's pull statistics and events are kept under
   * `_env/<env>/.raas/`: every sharing environment but the first, which keeps the plain keys.
   */
  ownRecords: boolean;
  /** Receives images only by promotion. */
  promoteOnly: boolean;
}

export interface RaasConfig {
  /** `[events.<name>]`: where registry events are delivered (docs/events.md). */
  events?: EndpointConfig[];
  /** `[retention.<isv>.<rule>]`: retention rules per ISV (docs/gc.md). */
  retention?: Record<string, RetentionRule[]>;
  /** Where the embedded default keeps everything: RAAS_HOME. */
  stateDir: string;
  storage: StorageKind;
  platform: PlatformKind;
  /** Vendor layers never uploaded (v1 image ids or sha256 digests). */
  maskLayers: string[];
  /** Publish OCI images as Docker schema 2 (`[raas] docker_schema2`, for Crane 3.3 deployments). */
  dockerSchema2: boolean;
  /** Bound on one v1 layer's uncompressed size while converting it (`[raas] max_inflated_layer`). */
  maxInflatedLayer: number;
  redhat: { metadataRepo: string | undefined; metadataRelpath: string | undefined };
  openshift: {
    serverUrl: string | undefined;
    token: string | undefined;
    appGitUrl: string | undefined;
    appGitBranch: string;
  };
  /** Explicit keys; undefined means the AWS SDK's default credential chain. */
  aws: {
    accessKeyId: string | undefined;
    secretAccessKey: string | undefined;
    sessionToken: string | undefined;
  };
  s3: S3Config;
  auth: AuthConfig;
  tls: TlsConfig;
  /** `[push]`; absent in configurations built before it existed (then off). */
  push?: PushConfig;
  isvs: Record<string, IsvSection>;
  /** `[<isv>.<env>]` sections by ISV, then environment. */
  environmentSections?: Record<string, Record<string, EnvironmentSection>>;
}

export type ConfigSource =
  | { kind: "defaults" }
  | { kind: "file"; file: string }
  | { kind: "conf-repo"; file: string; repo: { url: string; branch: string; dir: string } };

export interface LoadedConfig extends RaasConfig {
  source: ConfigSource;
  /** Things worth telling the user that do not stop the run (unknown keys, ignored options). */
  warnings: string[];
}

/** Command-line flags that override configuration, as strings straight from the CLI. */
export interface ConfigFlags {
  stateDir?: string;
  storage?: string;
  platform?: string;
  s3Endpoint?: string;
  s3Region?: string;
  redirect?: string;
}

/** Everything a command needs to act for one ISV, resolved from the configuration. */
export interface LocalStorageSettings {
  kind: "local";
  /** Blobs live under this directory, with the same keys as in a bucket. */
  root: string;
}

export interface S3StorageSettings {
  kind: "s3";
  bucket: string;
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  /** Undefined: the AWS SDK default credential chain. */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  publicRead: boolean;
  redirect: "public" | "presigned";
  presignTtl: number;
  partSize: number;
  concurrency: number;
  publicBaseUrl: string | undefined;
}

export type StorageSettings = LocalStorageSettings | S3StorageSettings;

export interface LocalPlatformSettings {
  kind: "local";
  /** stateDir/<isv>: holds platform.json, server.log, server.pid. */
  dir: string;
  host: "127.0.0.1";
  port: number;
  /** The checked-out app the server runs from; every push to the app remote updates it. */
  deployDir: string;
  logFile: string;
  pidFile: string;
}

export interface OpenShiftPlatformSettings {
  kind: "openshift";
  serverUrl: string;
  token: string | undefined;
  namespace: string;
  appName: string;
  /** Autoscale between 2 and 10 replicas, or run exactly 1. */
  scale: boolean;
  /** The replicas follow the app repository from git (`openshift_follow`) instead of serving the metadata built into the image. */
  follow: boolean;
  /** Public host name of the route. */
  routeHost: string;
}

export type PlatformSettings = LocalPlatformSettings | OpenShiftPlatformSettings;

export interface IsvSettings {
  isv: string;
  stateDir: string;
  /** stateDir/<isv>. */
  isvDir: string;
  storage: StorageSettings;
  platform: PlatformSettings;
  /** Where clients reach the registry, without a trailing slash. */
  appUrl: string;
  /** The git remote of the ISV app repository; pushing to it deploys. */
  appRemote: string;
  appBranch: string;
  /** raas's own working clone of the app repository. */
  appWorkDir: string;
  /** The local platform's deploy directory; undefined elsewhere. */
  deployDir: string | undefined;
  maskLayers: string[];
  /** `[raas] docker_schema2`; absent means false. */
  dockerSchema2?: boolean;
  /** Bound on one v1 layer's uncompressed size while converting it (default 64 GiB). */
  maxInflatedLayer?: number;
  /** Who may pull (`[auth]` with the ISV's `auth` key); absent means off. */
  auth?: AuthConfig;
  /** The write API (`[push]` with the ISV's `push` key); absent or `enable: false` means off. */
  push?: PushConfig;
  /** Event endpoints (`[events.<name>]`); absent or empty: no events are recorded. */
  events?: EndpointConfig[];
  /** Retention rules of this ISV (`[retention.<isv>.<rule>]`), for `raas gc --retention`. */
  retention?: RetentionRule[];
  /** HTTPS of the local registry; absent: plain HTTP (OpenShift: TLS ends at the Route). */
  tls?: IsvTlsSettings;
  /** The lifecycle environment these settings are for; absent for an ISV without environments. */
  environment?: EnvironmentSettings;
}

/** Where the local registry's certificate lives and what raas's own requests trust. */
export interface IsvTlsSettings {
  /** raas made the certificate from its local CA (and renews it), or the operator gave it. */
  managed: boolean;
  /** The server's certificate and key (registry.conf `[raas] tls_cert`, `tls_key`). */
  certFile: string;
  keyFile: string;
  /** The CA raas's own requests to the registry trust; undefined: the system's CAs. */
  caFile: string | undefined;
  /** Holds only a copy of caFile as ca.crt: what `--cert-dir` of skopeo and podman wants. */
  certDir: string | undefined;
  /** Host names and addresses the certificate must name. */
  hosts: string[];
}
