/**
 * Every configuration key: where it lives in raas.cfg, which environment variable and flag
 * override it, and how its value is parsed. The tables drive loading, validation and docs.
 */
import type { AuthMode, IsvSection, PlatformKind, RedirectMode, StorageKind } from "./types.js";
import { DEFAULT_MAX_INFLATED } from "../sources/v1-images.js";
import * as v from "./values.js";

/** Global settings, flattened so each can be layered independently. */
export interface GlobalSettings {
  stateDir: string;
  storage: StorageKind;
  platform: PlatformKind;
  maskLayers: string[];
  dockerSchema2: boolean;
  maxInflatedLayer: number;
  metadataRepo: string;
  metadataRelpath: string;
  openshiftServerUrl: string;
  openshiftToken: string;
  openshiftAppGitUrl: string;
  openshiftAppGitBranch: string;
  awsAccessKeyId: string;
  awsSecretAccessKey: string;
  awsSessionToken: string;
  s3Endpoint: string;
  s3Region: string;
  s3ForcePathStyle: boolean;
  s3Redirect: RedirectMode;
  s3PublicRead: boolean;
  s3PresignTtl: number;
  s3PartSize: number;
  s3Concurrency: number;
  s3PublicBaseUrl: string;
  authMode: AuthMode;
  authTokenTtl: number;
  authSessionTtl: number;
  authPrivateBlobTtl: number;
  authBasic: boolean;
  authExternalRealm: string;
  authExternalIssuer: string;
  authExternalService: string;
  authExternalRootCerts: string;
  authExternalJwks: string;
  authLogin: string;
  authLoginSecretFile: string;
  tls: boolean;
  tlsCert: string;
  tlsKey: string;
  tlsCa: string;
  pushEnable: boolean;
  pushAllowDelete: boolean;
  pushMaxBlobSize: number;
  pushWriteOnceTags: string[];
  pushUploadMaxAge: number;
}

interface KeySpec<T> {
  section: string;
  key: string;
  parse: v.Parser<T>;
  env?: string;
  flag?: string;
}

const MiB = 1024 ** 2;

export const GLOBAL_KEYS: { [K in keyof GlobalSettings]: KeySpec<GlobalSettings[K]> } = {
  stateDir: { section: "raas", key: "state_dir", parse: v.text, env: "RAAS_HOME", flag: "stateDir" },
  storage: {
    section: "raas",
    key: "storage",
    parse: v.oneOf("local", "s3"),
    env: "RAAS_STORAGE",
    flag: "storage",
  },
  platform: {
    section: "raas",
    key: "platform",
    parse: v.oneOf("local", "openshift"),
    env: "RAAS_PLATFORM",
    flag: "platform",
  },
  maskLayers: { section: "redhat", key: "mask_layers", parse: v.list(v.layerId) },
  dockerSchema2: { section: "raas", key: "docker_schema2", parse: v.bool },
  // Converting a v1 layer inflates it once to learn its diff_id; this bounds a gzip bomb.
  maxInflatedLayer: { section: "raas", key: "max_inflated_layer", parse: v.size(1 * MiB, 1024 ** 5) },
  metadataRepo: { section: "redhat", key: "metadata_repo", parse: v.text },
  metadataRelpath: { section: "redhat", key: "metadata_relpath", parse: v.text },
  openshiftServerUrl: { section: "openshift", key: "server_url", parse: v.httpUrl },
  openshiftToken: { section: "openshift", key: "token", parse: v.text, env: "RAAS_OPENSHIFT_TOKEN" },
  openshiftAppGitUrl: { section: "openshift", key: "app_git_url", parse: v.text },
  openshiftAppGitBranch: { section: "openshift", key: "app_git_branch", parse: v.branch },
  awsAccessKeyId: { section: "aws", key: "aws_access_key", parse: v.text, env: "AWS_ACCESS_KEY_ID" },
  awsSecretAccessKey: {
    section: "aws",
    key: "aws_secret_access_key",
    parse: v.text,
    env: "AWS_SECRET_ACCESS_KEY",
  },
  awsSessionToken: { section: "aws", key: "aws_session_token", parse: v.text, env: "AWS_SESSION_TOKEN" },
  s3Endpoint: {
    section: "s3",
    key: "endpoint",
    parse: v.httpUrl,
    env: "RAAS_S3_ENDPOINT",
    flag: "s3Endpoint",
  },
  s3Region: { section: "s3", key: "region", parse: v.region, env: "AWS_REGION", flag: "s3Region" },
  s3ForcePathStyle: { section: "s3", key: "force_path_style", parse: v.bool },
  s3Redirect: { section: "s3", key: "redirect", parse: v.oneOf("public", "presigned"), flag: "redirect" },
  s3PublicRead: { section: "s3", key: "public_read", parse: v.bool },
  // S3 accepts presigned URLs valid for at most 7 days.
  s3PresignTtl: { section: "s3", key: "presign_ttl", parse: v.integer(1, 604800, "a number of seconds") },
  // S3 multipart limits: parts of 5 MiB to 5 GiB.
  s3PartSize: { section: "s3", key: "part_size", parse: v.size(5 * MiB, 5 * 1024 * MiB) },
  s3Concurrency: { section: "s3", key: "concurrency", parse: v.integer(1, 64) },
  s3PublicBaseUrl: { section: "s3", key: "public_base_url", parse: v.httpUrl },
  // docs/auth.md: who may pull and push; off = anonymous and public, as before.
  authMode: { section: "auth", key: "mode", parse: v.oneOf("off", "local", "external"), env: "RAAS_AUTH" },
  authTokenTtl: { section: "auth", key: "token_ttl", parse: v.integer(30, 3600, "a number of seconds") },
  authSessionTtl: {
    section: "auth",
    key: "session_ttl",
    parse: v.integer(300, 43200, "a number of seconds"),
  },
  authPrivateBlobTtl: {
    section: "auth",
    key: "private_blob_ttl",
    parse: v.integer(1, 604800, "a number of seconds"),
  },
  authBasic: { section: "auth", key: "basic", parse: v.bool },
  authExternalRealm: { section: "auth", key: "external_realm", parse: v.httpUrl },
  authExternalIssuer: { section: "auth", key: "external_issuer", parse: v.text },
  authExternalService: { section: "auth", key: "external_service", parse: v.text },
  authExternalRootCerts: { section: "auth", key: "external_root_certs", parse: v.text },
  authExternalJwks: { section: "auth", key: "external_jwks", parse: v.text },
  // The login `raas status` and `push --wait` use to check private tags (never a password here).
  authLogin: { section: "auth", key: "login", parse: v.text, env: "RAAS_REGISTRY_LOGIN" },
  authLoginSecretFile: {
    section: "auth",
    key: "login_secret_file",
    parse: v.text,
    env: "RAAS_REGISTRY_SECRET_FILE",
  },
  // docs/configuration.md, HTTPS: the local registry serves TLS unless tls = off.
  tls: { section: "raas", key: "tls", parse: v.bool, env: "RAAS_TLS" },
  tlsCert: { section: "raas", key: "tls_cert", parse: v.text },
  tlsKey: { section: "raas", key: "tls_key", parse: v.text },
  tlsCa: { section: "raas", key: "tls_ca", parse: v.text },
  // docs/push-api.md: the registry's write API (docker push), written into registry.conf by setup.
  pushEnable: { section: "push", key: "enable", parse: v.bool },
  pushAllowDelete: { section: "push", key: "allow_delete", parse: v.bool },
  pushMaxBlobSize: { section: "push", key: "max_blob_size", parse: v.size(1, 5 * 1024 ** 4) },
  pushWriteOnceTags: { section: "push", key: "write_once_tags", parse: v.repositoryPrefixes },
  pushUploadMaxAge: {
    section: "push",
    key: "upload_max_age",
    parse: v.integer(60, 30 * 86_400, "a number of seconds"),
  },
};

export const ISV_KEYS: { [K in keyof Required<IsvSection>]: KeySpec<Required<IsvSection>[K]> } = {
  storage: { section: "<isv>", key: "storage", parse: v.oneOf("local", "s3") },
  platform: { section: "<isv>", key: "platform", parse: v.oneOf("local", "openshift") },
  port: { section: "<isv>", key: "port", parse: v.port },
  appUrl: { section: "<isv>", key: "app_url", parse: v.httpUrl },
  appGitUrl: { section: "<isv>", key: "app_git_url", parse: v.text },
  appGitBranch: { section: "<isv>", key: "app_git_branch", parse: v.branch },
  s3Bucket: { section: "<isv>", key: "s3_bucket", parse: v.bucket },
  auth: { section: "<isv>", key: "auth", parse: v.oneOf("off", "local", "external") },
  tls: { section: "<isv>", key: "tls", parse: v.bool },
  openshiftDomain: { section: "<isv>", key: "openshift_domain", parse: v.dnsLabel },
  openshiftApp: { section: "<isv>", key: "openshift_app", parse: v.dnsLabel },
  openshiftScale: { section: "<isv>", key: "openshift_scale", parse: v.bool },
  openshiftFollow: { section: "<isv>", key: "openshift_follow", parse: v.bool },
  openshiftGearSize: {
    section: "<isv>",
    key: "openshift_gear_size",
    parse: v.oneOf("small", "small.highcpu", "medium", "large"),
  },
  environments: { section: "<isv>", key: "environments", parse: v.list(v.environmentName) },
  promoteOnly: { section: "<isv>", key: "promote_only", parse: v.list(v.environmentName) },
  push: { section: "<isv>", key: "push", parse: v.bool },
};

/** Keys the original tool used that raas accepts and ignores, so old raas.cfg files load cleanly. */
export const IGNORED_KEYS: Record<string, string[] | "*"> = {
  pulpserver: "*",
  openshift: ["cartridge"],
};

/** Default bound on one v1 layer's uncompressed size during conversion (64 GiB). */
export const DEFAULT_MAX_INFLATED_LAYER = DEFAULT_MAX_INFLATED;

export const DEFAULT_S3 = {
  region: "us-east-1",
  redirect: "presigned" as RedirectMode,
  publicRead: false,
  presignTtl: 900,
  partSize: 16 * MiB,
  concurrency: 4,
};
