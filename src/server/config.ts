import { createHash } from "node:crypto";
import { access, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseBoolean, parseIni, type Sections } from "../crane/ini.js";
import { UserError } from "../errors.js";
import { parseDuration, parseEndpoints, type EndpointConfig } from "../events/config.js";
import { parseWorkers } from "./workers.js";

export type CdnAlgo = "sha256" | "sha1" | "md5";

export interface ServerConfig {
  /** The file read, or undefined when only defaults apply. */
  file: string | undefined;
  debug: boolean;
  dataDir: string;
  /** Seconds between data-dir checks (Crane: int; fractions allowed here, for tests). */
  pollingInterval: number;
  /** `host[:port]` for `X-Docker-Endpoints`; empty = the request's Host. */
  endpoint: string;
  cdn: {
    urlMatch: string;
    urlReplace: string;
    authSecret?: Buffer;
    authTtl: number;
    authParam: string;
    authAlgo: CdnAlgo;
  };
  serveContent: { enable: boolean; contentDirV1: string; contentDirV2: string; useXSendfile: boolean };
  gsaUrl: string;
  solrUrl: string;
  /** The built-in `/v1/search` backend's descriptions and flags, by repository name. */
  search: SearchSettings;
  manifestDir: string;
  /** PEM files; both set means the server speaks HTTPS. */
  tlsCert: string;
  tlsKey: string;
  /**
   * `[raas] tls_cert_dir`: the directory holding `ca.crt` of the private CA that signed
   * tls_cert (raas's local CA); the web page's pull commands pass it to `--cert-dir`. "" when unset.
   */
  tlsCertDir: string;
  /** Write one JSON line per request (`[raas] access_log`, default true). */
  accessLog: boolean;
  /** Worker processes (`[raas] workers`, default auto: one per usable CPU; see workers.ts). */
  workers: number | "auto";
  listen: string;
  port: number;
  /** Whose registry this is (`[raas] isv`), reported by /readyz so `raas status` knows it asks the right server. */
  isv?: string;
  /**
   * The lifecycle environment this registry serves (`[raas] environment`, written by `raas setup`
   * for an ISV with environments; docs/environments.md): `promote_only` refuses pushes through the
   * write API, naming `promote_from`, the environment images come from.
   */
  environment?: {
    name: string;
    promoteOnly: boolean;
    promoteFrom: string;
    /**
     * On the ISV's store shared with its other environments (`[raas] shared_store`): tag objects
     * live under `_env/<name>/`, as `raas push --env` writes them; with `own_records` its pull
     * statistics and events too (docs/environments.md).
     */
    sharedStore: boolean;
    ownRecords: boolean;
  };
  storage: {
    kind: "s3" | undefined;
    bucket: string;
    endpoint: string;
    region: string;
    forcePathStyle: boolean;
    redirect: "public" | "presigned";
    presignTtl: number;
    publicBaseUrl: string;
  };
  /** `[auth]`: who may pull (docs/auth.md); mode off serves everything anonymously, as Crane does. */
  auth: AuthSettings;
  /** The write API (`[push]`, docs/push-api.md); disabled unless `enable = true`. */
  push: {
    enable: boolean;
    /** Accept writes without identities, from loopback only, on a loopback listen address (tests). */
    unauthenticatedLoopback: boolean;
    /** The app repository's remote, where manifest PUTs commit metadata. */
    appRemote: string;
    appBranch: string;
    /** This process's working clone of the app repository. */
    cloneDir: string;
    maxBlobSize: number;
    /** Write pushed objects world-readable (S3 ACL public-read), for anonymous public redirects. */
    publicRead: boolean;
    /**
     * `write_once_tags`: repository name prefixes whose tags are write-once: once a tag names a
     * manifest, a PUT that would move it is refused. `acme/releases/` covers that folder's
     * repositories, `acme/base` that one repository; `*` every repository.
     */
    writeOnceTags: string[];
    /** Seconds an upload session may sit untouched before it is swept (`upload_max_age`, 1 day). */
    uploadMaxAge: number;
    /** Seconds between sweeps (`upload_sweep_interval`, 10 minutes; 0 turns sweeping off). */
    uploadSweepInterval: number;
    /** `allow_delete`: serve manifest and tag DELETE (default false: 405, as the spec allows). */
    allowDelete: boolean;
  };
  /**
   * `[metadata]`: follow the app repository from git instead of reading data_dir/manifest_dir
   * (docs/server.md, "Following the app repository"); `follow` empty keeps the directories.
   */
  metadata: {
    follow: string;
    followBranch: string;
    /** Seconds between checks of the remote branch (one `git ls-remote`). */
    followInterval: number;
    /** The server's bare copy of the followed repository. */
    followDir: string;
  };
  /** `[events.<name>]` sections: where events are delivered (docs/events.md). */
  events: EndpointConfig[];
  /** Milliseconds between delivery passes over the outbox (`[raas] events_poll`, default 1s). */
  eventsPollMs: number;
  /** `[stats] enable` (default true) and `flush_interval` (default 10s). */
  stats: { enable: boolean; flushIntervalMs: number };
  /** Problems that did not stop loading (Crane logs them and carries on). */
  warnings: string[];
}

export type AuthSettings =
  | { mode: "off" }
  | {
      mode: "local";
      realm: string;
      service: string;
      issuer: string;
      /** The directory holding auth-keys.json (0600, created by `raas setup`). */
      keyDir: string;
      /** `[auth] key_group_read`: accept a 0440 key file (a Secret volume with an fsGroup). */
      keyGroupRead: boolean;
      /** access.yaml of the deployed app repository; reloaded with the metadata. */
      policyFile: string;
      tokenTtl: number;
      /** Seconds a web page login lasts (`session_ttl`, default 3600). */
      sessionTtl: number;
      basic: boolean;
      /** Seconds a presigned redirect to a private repository's content stays valid. */
      privateTtl: number;
    }
  | {
      mode: "external";
      realm: string;
      service: string;
      issuer: string;
      /** PEM root certificates, or a JWKS file (one of them). */
      rootCerts: string;
      jwks: string;
      privateTtl: number;
    };

export interface SearchSettings {
  descriptions: Map<string, string>;
  official: Set<string>;
  trusted: Set<string>;
}

const DEFAULT_PATH = "/etc/crane.conf";

/** raas.cfg's environment name grammar (`environments = test uat prod`). */
const ENVIRONMENT_NAME = /^[a-z][a-z0-9]{0,15}$/;

/** `[search]`: `description.<name> = text`, `official = a, b`, `trusted = c`. */
function searchSettings(section: Record<string, string> | undefined): SearchSettings {
  const names = (text: string | undefined) =>
    new Set(
      (text ?? "")
        .split(",")
        .map((n) => n.trim())
        .filter((n) => n !== ""),
    );
  const descriptions = new Map<string, string>();
  for (const [key, value] of Object.entries(section ?? {})) {
    if (key.startsWith("description.")) descriptions.set(key.slice("description.".length), value.trim());
  }
  return { descriptions, official: names(section?.official), trusted: names(section?.trusted) };
}

class Reader {
  constructor(
    private readonly sections: Sections,
    private readonly where: string,
    private readonly base: string,
  ) {}

  str(section: string, key: string, fallback: string): string {
    return (this.sections[section]?.[key] ?? fallback).trim();
  }

  bool(section: string, key: string, fallback: boolean): boolean {
    const text = this.str(section, key, String(fallback));
    const value = parseBoolean(text);
    if (value === undefined) {
      throw new UserError(
        `${this.where}: [${section}] ${key} must be a boolean, not "${text.toLowerCase()}"`,
      );
    }
    return value;
  }

  num(section: string, key: string, fallback: number, integer: boolean): number {
    const text = this.str(section, key, String(fallback));
    const value = Number(text);
    if (text === "" || !Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
      throw new UserError(
        `${this.where}: [${section}] ${key} must be a ${integer ? "whole " : ""}number, not "${text}"`,
      );
    }
    return value;
  }

  path(section: string, key: string, fallback: string): string {
    const value = this.str(section, key, fallback);
    return value === "" ? "" : resolve(this.base, value);
  }
}

/** `[auth]`, checked whole: a registry that should be private never starts half configured. */
function authSettings(r: Reader, where: string, serveContent: boolean, storageKind: string): AuthSettings {
  const mode = r.str("auth", "mode", "off");
  if (mode === "off") return { mode: "off" };
  if (mode !== "local" && mode !== "external") {
    throw new UserError(`${where}: [auth] mode must be "off", "local" or "external", not "${mode}"`);
  }
  const need = (key: string, value: string) => {
    if (value === "") throw new UserError(`${where}: [auth] ${key} is required when mode = ${mode}`);
    return value;
  };
  const realm = need("realm", r.str("auth", "realm", ""));
  if (!/^https?:\/\/[^\s"\\]+$/.test(realm)) {
    throw new UserError(`${where}: [auth] realm must be the http(s) URL of the token endpoint`);
  }
  const service = need("service", r.str("auth", "service", ""));
  if (!/^[^\s"\\,]+$/.test(service)) {
    throw new UserError(`${where}: [auth] service must not contain spaces, quotes or commas`);
  }
  const privateTtl = r.num("auth", "private_blob_ttl", 300, true);
  if (privateTtl < 1 || privateTtl > 604800) {
    throw new UserError(`${where}: [auth] private_blob_ttl must be 1 to 604800 seconds`);
  }
  // A private repository's content must never be reachable through a public URL: the server
  // either serves it (serve_content) or redirects with a presigned S3 URL.
  if (!serveContent && storageKind !== "s3") {
    throw new UserError(
      `${where}: [auth] mode = ${mode} needs [serve_content] enable or [storage] kind = s3`,
      {
        hint: "Without either, private blobs could only be redirected to public URLs.",
      },
    );
  }
  if (mode === "local") {
    const tokenTtl = r.num("auth", "token_ttl", 300, true);
    if (tokenTtl < 30 || tokenTtl > 3600) {
      throw new UserError(`${where}: [auth] token_ttl must be 30 to 3600 seconds`);
    }
    const sessionTtl = r.num("auth", "session_ttl", 3600, true);
    if (sessionTtl < 300 || sessionTtl > 43200) {
      throw new UserError(`${where}: [auth] session_ttl must be 300 to 43200 seconds`);
    }
    return {
      mode,
      realm,
      service,
      issuer: r.str("auth", "issuer", "raas") || "raas",
      keyDir: need("key_dir", r.path("auth", "key_dir", "")),
      keyGroupRead: r.bool("auth", "key_group_read", false),
      policyFile: need("policy_file", r.path("auth", "policy_file", "")),
      tokenTtl,
      sessionTtl,
      basic: r.bool("auth", "basic", false),
      privateTtl,
    };
  }
  const rootCerts = r.path("auth", "root_certs", "");
  const jwks = r.path("auth", "jwks", "");
  if ((rootCerts === "") === (jwks === "")) {
    throw new UserError(`${where}: [auth] mode = external needs exactly one of root_certs and jwks`);
  }
  return {
    mode,
    realm,
    service,
    issuer: need("issuer", r.str("auth", "issuer", "")),
    rootCerts,
    jwks,
    privateTtl,
  };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Load a Crane-style config (FORMATS.md §2.10) plus the raas sections. The file is `path`, else
 * `$CRANE_CONFIG_PATH`, else /etc/crane.conf if it exists, else defaults only. An explicitly named
 * file that is missing is an error. Relative paths are relative to the file's directory.
 */
export async function loadServerConfig(
  path: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<ServerConfig> {
  const explicit = path ?? env.CRANE_CONFIG_PATH;
  let file: string | undefined;
  let sections: Sections = {};
  // What the format cannot hold (a setting before any [section]) is a warning; the rest applies.
  const problems: string[] = [];
  if (explicit !== undefined && explicit !== "") {
    file = resolve(explicit);
    const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
      throw new UserError(`cannot read registry config ${file}: ${err.code ?? err.message}`, {
        hint: "Pass an existing file with --config or CRANE_CONFIG_PATH.",
      });
    });
    sections = parseIni(text, (problem) => problems.push(problem));
  } else if (await exists(DEFAULT_PATH)) {
    file = DEFAULT_PATH;
    sections = parseIni(await readFile(DEFAULT_PATH, "utf8"), (problem) => problems.push(problem));
  }
  const where = file ?? "registry config";
  const r = new Reader(sections, where, file === undefined ? process.cwd() : dirname(file));
  const warnings = problems.map((problem) => `${where}: ${problem}`);

  const algo = r.str("cdn", "url_auth_algo", "sha256");
  const secretText = r.str("cdn", "url_auth_secret", "");
  let authSecret: Buffer | undefined;
  if (secretText !== "") {
    if (/^(?:[0-9a-fA-F]{2})+$/.test(secretText)) authSecret = Buffer.from(secretText, "hex");
    else warnings.push(`${where}: [cdn] url_auth_secret is not valid hex; CDN tokens are disabled`);
  }
  const serveContent = {
    enable: r.bool("serve_content", "enable", false),
    contentDirV1: r.path("serve_content", "content_dir_v1", "/var/www/pub/docker/v1/web/"),
    contentDirV2: r.path("serve_content", "content_dir_v2", "/var/www/pub/docker/v2/web/"),
    useXSendfile: r.bool("serve_content", "use_x_sendfile", true),
  };
  if (serveContent.enable) {
    for (const dir of [serveContent.contentDirV1, serveContent.contentDirV2]) {
      if (dir === "" || !(await exists(dir))) {
        warnings.push(
          `${where}: [serve_content] directory ${dir || "(empty)"} does not exist; serve_content is disabled`,
        );
        serveContent.enable = false;
      }
    }
  }
  const redirect = r.str("storage", "redirect", "public");
  if (redirect !== "public" && redirect !== "presigned") {
    throw new UserError(`${where}: [storage] redirect must be "public" or "presigned", not "${redirect}"`);
  }
  const kind = r.str("storage", "kind", "");
  if (redirect === "presigned" && (kind !== "s3" || r.str("storage", "bucket", "") === "")) {
    throw new UserError(`${where}: [storage] redirect = presigned needs kind = s3 and a bucket`);
  }
  if (kind !== "" && kind !== "s3") {
    throw new UserError(`${where}: [storage] kind must be "s3", not "${kind}"`);
  }
  const publicBaseUrl = r.str("storage", "public_base_url", "");
  if (publicBaseUrl !== "" && !/^https?:\/\/[^\s]+$/.test(publicBaseUrl)) {
    throw new UserError(`${where}: [storage] public_base_url must be an http(s) URL`);
  }
  const tlsCert = r.path("raas", "tls_cert", "");
  const tlsKey = r.path("raas", "tls_key", "");
  if ((tlsCert === "") !== (tlsKey === "")) {
    throw new UserError(`${where}: [raas] tls_cert and tls_key must be set together`);
  }
  const tlsCertDir = r.path("raas", "tls_cert_dir", "");
  if (tlsCertDir !== "" && tlsCert === "") {
    throw new UserError(`${where}: [raas] tls_cert_dir names the CA of tls_cert, which is not set`);
  }
  const auth = authSettings(r, where, serveContent.enable, kind);
  const envPort = env.PORT;
  const port = envPort !== undefined && envPort !== "" ? Number(envPort) : r.num("raas", "port", 5000, true);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError(`invalid port ${envPort ?? port}`);
  }

  const duration = (section: string, key: string, fallback: string): number => {
    const text = r.str(section, key, fallback);
    const ms = parseDuration(text);
    if (ms === undefined || ms < 10) {
      throw new UserError(
        `${where}: [${section}] ${key} must be a duration like 500ms, 10s or 1m, not "${text}"`,
      );
    }
    return ms;
  };
  // A URL (scheme:// or scp-like user@host:path) as given; a path relative to the config file.
  const followText = r.str("metadata", "follow", "");
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(followText) || /^[^/:]+@[^/:]+:/.test(followText);
  const follow = followText === "" || isUrl ? followText : r.path("metadata", "follow", "");
  if (follow.startsWith("-") || /[\0\n]/.test(follow)) {
    throw new UserError(`${where}: [metadata] follow must be a git URL or path`);
  }
  const followBranch = r.str("metadata", "follow_branch", "main");
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/.test(followBranch) || followBranch.includes("..")) {
    throw new UserError(`${where}: [metadata] follow_branch is not a branch name: "${followBranch}"`);
  }
  const followInterval = r.num("metadata", "follow_interval", 2, false);
  if (followInterval < 0.05) {
    throw new UserError(`${where}: [metadata] follow_interval must be at least 0.05 seconds`);
  }
  const followDirSetting = r.path("metadata", "follow_dir", "");
  const followDir =
    followDirSetting !== ""
      ? followDirSetting
      : join(
          tmpdir(),
          "raas-follow",
          createHash("sha256")
            .update(`${follow}\n${followBranch}\n${process.getuid?.() ?? ""}`)
            .digest("hex")
            .slice(0, 16),
        );
  const environmentName = r.str("raas", "environment", "");
  if (environmentName !== "" && !ENVIRONMENT_NAME.test(environmentName)) {
    throw new UserError(
      `${where}: [raas] environment must be an environment name (1-16 lower-case letters and digits), not "${environmentName.slice(0, 40)}"`,
    );
  }
  const promoteFrom = r.str("raas", "promote_from", "");
  if (promoteFrom !== "" && !ENVIRONMENT_NAME.test(promoteFrom)) {
    throw new UserError(
      `${where}: [raas] promote_from must be an environment name, not "${promoteFrom.slice(0, 40)}"`,
    );
  }
  const sharedStore = r.bool("raas", "shared_store", false);
  const ownRecords = r.bool("raas", "own_records", false);
  if (environmentName === "" && (sharedStore || ownRecords)) {
    throw new UserError(
      `${where}: [raas] ${sharedStore ? "shared_store" : "own_records"} is for a lifecycle environment, but [raas] environment is not set`,
      { hint: "Run raas setup again: it writes both for an environment on the ISV's shared store." },
    );
  }
  if (ownRecords && !sharedStore) {
    throw new UserError(
      `${where}: [raas] own_records is for an environment on a shared store (shared_store = true)`,
      {
        hint: "Run raas setup again: it writes both for an environment on the ISV's shared store.",
      },
    );
  }
  const events = parseEndpoints(sections, where);
  const eventsPollMs = duration("raas", "events_poll", "1s");
  const stats = {
    enable: r.bool("stats", "enable", true),
    flushIntervalMs: duration("stats", "flush_interval", "10s"),
  };

  return {
    file,
    debug: r.bool("general", "debug", false) || (env.CRANE_DEBUG ?? "").toLowerCase() === "true",
    dataDir: r.path("general", "data_dir", "/var/lib/crane/metadata/"),
    pollingInterval: r.num("general", "data_dir_polling_interval", 60, false),
    endpoint: r.str("general", "endpoint", ""),
    cdn: {
      urlMatch: r.str("cdn", "url_match", ""),
      urlReplace: r.str("cdn", "url_replace", ""),
      ...(authSecret === undefined ? {} : { authSecret }),
      authTtl: r.num("cdn", "url_auth_ttl", 300, true),
      authParam: r.str("cdn", "url_auth_param", "_auth_"),
      authAlgo: algo === "sha1" || algo === "md5" ? algo : "sha256",
    },
    serveContent,
    gsaUrl: r.str("gsa", "url", ""),
    solrUrl: r.str("solr", "url", ""),
    search: searchSettings(sections.search),
    manifestDir: r.path("raas", "manifest_dir", "manifests"),
    tlsCert,
    tlsKey,
    tlsCertDir,
    accessLog: r.bool("raas", "access_log", true),
    workers: parseWorkers(r.str("raas", "workers", "auto"), `${where}: [raas] workers`),
    listen: r.str("raas", "listen", "0.0.0.0"),
    port,
    isv: r.str("raas", "isv", ""),
    ...(environmentName === ""
      ? {}
      : {
          environment: {
            name: environmentName,
            promoteOnly: r.bool("raas", "promote_only", false),
            promoteFrom,
            sharedStore,
            ownRecords,
          },
        }),
    storage: {
      kind: kind === "s3" ? "s3" : undefined,
      bucket: r.str("storage", "bucket", ""),
      endpoint: r.str("storage", "endpoint", ""),
      region: r.str("storage", "region", "us-east-1"),
      forcePathStyle: r.bool("storage", "force_path_style", false),
      redirect,
      presignTtl: r.num("storage", "presign_ttl", 1200, true),
      publicBaseUrl,
    },
    auth,
    push: {
      enable: r.bool("push", "enable", false),
      unauthenticatedLoopback: r.bool("push", "unauthenticated_loopback", false),
      appRemote: r.str("push", "app_remote", ""),
      appBranch: r.str("push", "app_branch", "main"),
      cloneDir: r.path("push", "clone_dir", ""),
      maxBlobSize: r.num("push", "max_blob_size", 16 * 1024 ** 3, true),
      publicRead: r.bool("push", "public_read", false),
      writeOnceTags: r
        .str("push", "write_once_tags", "")
        .split(/[\s,]+/)
        .filter((p) => p !== ""),
      uploadMaxAge: r.num("push", "upload_max_age", 86_400, true),
      uploadSweepInterval: r.num("push", "upload_sweep_interval", 600, true),
      allowDelete: r.bool("push", "allow_delete", false),
    },
    metadata: { follow, followBranch, followInterval, followDir },
    events,
    eventsPollMs,
    stats,
    warnings,
  };
}
