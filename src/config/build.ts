/**
 * Merge the layers (built-in defaults < raas.cfg < environment < flags) into a RaasConfig,
 * validating every value on the way and collecting every problem instead of stopping at the first.
 */
import { homedir } from "node:os";
import * as path from "node:path";
import { parseEndpoints, type EndpointConfig } from "../events/config.js";
import { environmentSectionName, parseEnvironmentSections, reservedIsvName } from "./environments.js";
import { isIsvName } from "../image/names.js";
import { parseRetention } from "./retention.js";
import type { Sections } from "../crane/ini.js";
import {
  DEFAULT_MAX_INFLATED_LAYER,
  DEFAULT_S3,
  GLOBAL_KEYS,
  IGNORED_KEYS,
  ISV_KEYS,
  type GlobalSettings,
} from "./schema.js";
import type { ConfigFlags, IsvSection, RaasConfig } from "./types.js";
import { BadValue, type Parser } from "./values.js";
import { ownEntry } from "../image/records.js";

export type Env = Record<string, string | undefined>;

export interface Problems {
  errors: string[];
  warnings: string[];
}

const GLOBAL_SECTIONS = new Set([
  "raas",
  "redhat",
  "openshift",
  "aws",
  "s3",
  "auth",
  "push",
  ...Object.keys(IGNORED_KEYS),
]);

function tryParse<T>(parse: Parser<T>, raw: string, where: string, problems: Problems): T | undefined {
  try {
    return parse(raw);
  } catch (err) {
    if (!(err instanceof BadValue)) throw err;
    problems.errors.push(`${where}: ${err.message}`);
    return undefined;
  }
}

function setParsed<K extends keyof GlobalSettings>(
  out: Partial<GlobalSettings>,
  name: K,
  raw: string | undefined,
  where: string,
  problems: Problems,
): void {
  if (raw === undefined) return;
  const value = tryParse(GLOBAL_KEYS[name].parse, raw, where, problems);
  if (value !== undefined) out[name] = value;
}

function setIsvParsed<K extends keyof IsvSection>(
  out: IsvSection,
  name: K,
  raw: string,
  where: string,
  problems: Problems,
): void {
  const value = tryParse(ISV_KEYS[name].parse, raw, where, problems);
  if (value !== undefined) out[name] = value;
}

const globalNames = Object.keys(GLOBAL_KEYS) as (keyof GlobalSettings)[];
const isvNames = Object.keys(ISV_KEYS) as (keyof IsvSection)[];

/** The raas.cfg layer: global sections and one section per ISV. */
function fileLayer(sections: Sections, baseDir: string, problems: Problems) {
  const global: Partial<GlobalSettings> = {};
  const isvs = Object.create(null) as Record<string, IsvSection>; // an ISV may be called `constructor`
  for (const [section, body] of Object.entries(sections)) {
    if (section.startsWith("events.")) continue; // event endpoints: parsed by eventEndpoints()
    if (section.startsWith("retention.")) continue; // retention rules: src/lifecycle/retention.ts
    if (environmentSectionName(section) !== undefined) continue; // parsed by parseEnvironmentSections()
    const known = GLOBAL_SECTIONS.has(section);
    const reserved = known ? undefined : reservedIsvName(section);
    if (reserved !== undefined) {
      problems.errors.push(`[${section}]: ${reserved}`);
      continue;
    }
    if (!known && !isIsvName(section)) {
      problems.errors.push(
        `[${section}]: not a known section, nor an ISV name (lower-case letters and digits, 1-16)`,
      );
      continue;
    }
    const isv: IsvSection = {};
    for (const [key, raw] of Object.entries(body)) {
      const where = `[${section}] ${key}`;
      const ignored = ownEntry(IGNORED_KEYS, section);
      const globalName = globalNames.find(
        (n) => GLOBAL_KEYS[n].section === section && GLOBAL_KEYS[n].key === key,
      );
      const isvName = known ? undefined : isvNames.find((n) => ISV_KEYS[n].key === key);
      if (globalName !== undefined) setParsed(global, globalName, raw, where, problems);
      else if (isvName !== undefined) setIsvParsed(isv, isvName, raw, where, problems);
      else if (!(ignored === "*" || ignored?.includes(key))) {
        problems.warnings.push(`${where}: unknown key, ignored`);
      }
    }
    if (!known) isvs[section] = isv;
  }
  // A relative state_dir in a file means relative to that file, not to wherever raas runs.
  if (global.stateDir !== undefined) global.stateDir = path.resolve(baseDir, global.stateDir);
  if (global.authExternalRootCerts !== undefined) {
    global.authExternalRootCerts = path.resolve(baseDir, global.authExternalRootCerts);
  }
  for (const name of ["authExternalJwks", "authLoginSecretFile", "tlsCert", "tlsKey", "tlsCa"] as const) {
    const value = global[name];
    if (value !== undefined) global[name] = path.resolve(baseDir, value);
  }
  return { global, isvs };
}

function envLayer(env: Env, cwd: string, problems: Problems): Partial<GlobalSettings> {
  const out: Partial<GlobalSettings> = {};
  for (const name of globalNames) {
    const variable = GLOBAL_KEYS[name].env;
    const raw = variable === undefined ? undefined : env[variable];
    if (raw !== undefined && raw !== "") {
      setParsed(out, name, raw, `environment variable ${variable}`, problems);
    }
  }
  if (out.stateDir !== undefined) out.stateDir = path.resolve(cwd, out.stateDir);
  if (out.authLoginSecretFile !== undefined) {
    out.authLoginSecretFile = path.resolve(cwd, out.authLoginSecretFile);
  }
  return out;
}

function flagLayer(flags: ConfigFlags, cwd: string, problems: Problems): Partial<GlobalSettings> {
  const out: Partial<GlobalSettings> = {};
  for (const name of globalNames) {
    const flag = GLOBAL_KEYS[name].flag as keyof ConfigFlags | undefined;
    const raw = flag === undefined ? undefined : flags[flag];
    const option = flag?.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if (raw !== undefined) setParsed(out, name, raw, `option --${option}`, problems);
  }
  if (out.stateDir !== undefined) out.stateDir = path.resolve(cwd, out.stateDir);
  return out;
}

/**
 * The problems of the command-line overrides alone: a bad flag value is a usage error, told
 * before any configuration is read.
 */
export function flagProblems(flags: ConfigFlags, cwd: string): string[] {
  const problems: Problems = { errors: [], warnings: [] };
  flagLayer(flags, cwd, problems);
  return problems.errors;
}

/** RAAS_HOME, else $XDG_DATA_HOME/raas, else ~/.local/share/raas. */
export function defaultStateDir(env: Env): string {
  const xdg = env.XDG_DATA_HOME;
  if (xdg !== undefined && path.isAbsolute(xdg)) return path.join(xdg, "raas");
  return path.join(env.HOME ?? homedir(), ".local", "share", "raas");
}

export interface BuildInput {
  sections: Sections;
  /** Directory of the config file (for relative paths), or cwd when there is none. */
  baseDir: string;
  cwd: string;
  env: Env;
  flags: ConfigFlags;
}

/** `[events.<name>]` sections (src/events/config.ts), their problems added to the others. */
function eventEndpoints(sections: Sections, problems: Problems): EndpointConfig[] {
  return parseEndpoints(sections, "raas.cfg", problems.errors);
}

export function buildConfig(input: BuildInput, problems: Problems): RaasConfig {
  const file = fileLayer(input.sections, input.baseDir, problems);
  const fromEnv = envLayer(input.env, input.cwd, problems);
  const s: Partial<GlobalSettings> = {
    ...file.global,
    ...fromEnv,
    ...flagLayer(input.flags, input.cwd, problems),
  };
  // Where the registry login came from, so that a refusal names what to fix: raas.cfg or the
  // environment variables (each person's own login), each half on its own.
  const origin = (name: "authLogin" | "authLoginSecretFile") =>
    fromEnv[name] !== undefined
      ? (GLOBAL_KEYS[name].env ?? "")
      : `[${GLOBAL_KEYS[name].section}] ${GLOBAL_KEYS[name].key}`;
  const s3 = {
    endpoint: s.s3Endpoint,
    region: s.s3Region ?? DEFAULT_S3.region,
    forcePathStyle: s.s3ForcePathStyle,
    redirect: s.s3Redirect ?? DEFAULT_S3.redirect,
    publicRead: s.s3PublicRead ?? DEFAULT_S3.publicRead,
    presignTtl: s.s3PresignTtl ?? DEFAULT_S3.presignTtl,
    partSize: s.s3PartSize ?? DEFAULT_S3.partSize,
    concurrency: s.s3Concurrency ?? DEFAULT_S3.concurrency,
    publicBaseUrl: s.s3PublicBaseUrl,
  };
  if (s3.redirect === "public" && !s3.publicRead && s3.publicBaseUrl === undefined) {
    problems.errors.push(
      "[s3] redirect = public: clients cannot read private objects; set public_read = true or public_base_url",
    );
  }
  if ((s.tlsCert === undefined) !== (s.tlsKey === undefined)) {
    problems.errors.push("[raas]: tls_cert and tls_key must be given together");
  }
  if (s.tlsCa !== undefined && s.tlsCert === undefined) {
    problems.errors.push("[raas] tls_ca: only with tls_cert and tls_key (raas trusts its own CA otherwise)");
  }
  if ((s.authLogin === undefined) !== (s.authLoginSecretFile === undefined)) {
    problems.errors.push("[auth]: login and login_secret_file must be given together");
  }
  if ((s.awsAccessKeyId === undefined) !== (s.awsSecretAccessKey === undefined)) {
    problems.errors.push("[aws]: aws_access_key and aws_secret_access_key must be given together");
  }
  return {
    stateDir: s.stateDir ?? defaultStateDir(input.env),
    storage: s.storage ?? "local",
    platform: s.platform ?? "local",
    maskLayers: s.maskLayers ?? [],
    dockerSchema2: s.dockerSchema2 ?? false,
    maxInflatedLayer: s.maxInflatedLayer ?? DEFAULT_MAX_INFLATED_LAYER,
    redhat: { metadataRepo: s.metadataRepo, metadataRelpath: s.metadataRelpath },
    openshift: {
      serverUrl: s.openshiftServerUrl,
      token: s.openshiftToken,
      appGitUrl: s.openshiftAppGitUrl,
      appGitBranch: s.openshiftAppGitBranch ?? "main",
    },
    aws: {
      accessKeyId: s.awsAccessKeyId,
      secretAccessKey: s.awsSecretAccessKey,
      sessionToken: s.awsSessionToken,
    },
    s3,
    auth: {
      mode: s.authMode ?? "off",
      tokenTtl: s.authTokenTtl ?? 300,
      ...(s.authSessionTtl === undefined ? {} : { sessionTtl: s.authSessionTtl }),
      privateBlobTtl: s.authPrivateBlobTtl ?? 300,
      basic: s.authBasic ?? false,
      external: {
        realm: s.authExternalRealm,
        issuer: s.authExternalIssuer,
        service: s.authExternalService,
        rootCerts: s.authExternalRootCerts,
        jwks: s.authExternalJwks,
      },
      login: {
        name: s.authLogin,
        secretFile: s.authLoginSecretFile,
        from: { name: origin("authLogin"), secretFile: origin("authLoginSecretFile") },
      },
    },
    tls: { enabled: s.tls ?? true, cert: s.tlsCert, key: s.tlsKey, ca: s.tlsCa },
    push: {
      enable: s.pushEnable ?? false,
      allowDelete: s.pushAllowDelete ?? false,
      ...(s.pushMaxBlobSize === undefined ? {} : { maxBlobSize: s.pushMaxBlobSize }),
      writeOnceTags: s.pushWriteOnceTags ?? [],
      ...(s.pushUploadMaxAge === undefined ? {} : { uploadMaxAge: s.pushUploadMaxAge }),
    },
    isvs: file.isvs,
    environmentSections: parseEnvironmentSections(input.sections, file.isvs, problems),
    events: eventEndpoints(input.sections, problems),
    retention: parseRetention(input.sections, problems.errors),
  };
}
