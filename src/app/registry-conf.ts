/**
 * registry.conf, the file the registry server reads: Crane's sections ([general],
 * [serve_content]) plus raas's own ([raas], [storage]). Written so that Pulp Crane 3.3 reads the
 * Crane sections exactly as raas's server does, so an operator can swap one for the other:
 * - every key Crane reads is present: Crane reads each section of the file on its own and
 *   `getboolean('general', 'debug')` fails at start when [general] has no `debug`;
 * - paths are absolute: Crane resolves a relative `data_dir` against its working directory,
 *   raas against the file. In a container that is the image's /app (the Containerfile's WORKDIR);
 *   on the local platform, the deploy directory;
 * - values are written bare, and a value the two parsers would read differently is refused:
 *   Python's ConfigParser keeps quotes and backslashes, ends a value at ` ;`, and expands `%(`;
 *   the `ini` package unquotes a quoted value, unescapes `\\`, and ends a value at `;` or `#`.
 */
import * as path from "node:path";
import type { IsvSettings } from "../config/types.js";
import { endpointSections } from "../events/config.js";
import { UserError } from "../errors.js";
import { redactUrl } from "../adapters/git-errors.js";

export interface ServerConfigOptions {
  /** Whole seconds between checks of data/ for new metadata (Crane's default of 60 is too slow for a CLI). */
  pollingIntervalSeconds?: number;
  /** `host[:port]` for X-Docker-Endpoints; empty means the request's Host. */
  endpoint?: string;
}

type Section = [string, Record<string, string | number | boolean>];

/** Where the app lives inside its container image (templates/app/Containerfile: WORKDIR). */
export const IMAGE_APP_DIR = "/app";

/** Where the OpenShift Deployment mounts the signing-key Secret (templates/app/openshift). */
export const IMAGE_AUTH_KEY_DIR = "/var/run/raas-auth";

/** Where the OpenShift Deployment mounts the optional git-credentials Secret `<app>-git`. */
export const IMAGE_GIT_CREDENTIALS_DIR = "/var/run/raas-git";

/** Files setup copies into the app repository for external issuer mode (public material only). */
export const EXTERNAL_ROOTS_FILE = "auth/external-roots.pem";
export const EXTERNAL_JWKS_FILE = "auth/external-jwks.json";

/** The `[auth]` section: the token realm is the registry's own `/token`, the service its host. */
function authSection(settings: IsvSettings, appDir: string): Section | undefined {
  const auth = settings.auth;
  if (auth === undefined || auth.mode === "off") return undefined;
  const host = new URL(settings.appUrl).host;
  if (auth.mode === "local") {
    return [
      "auth",
      {
        mode: "local",
        realm: `${settings.appUrl}/token`,
        service: host,
        key_dir: settings.platform.kind === "local" ? path.resolve(settings.isvDir) : IMAGE_AUTH_KEY_DIR,
        // A Secret volume with the pod's fsGroup is 0440 whatever its defaultMode; locally only 0600 will do.
        key_group_read: settings.platform.kind !== "local",
        policy_file: path.posix.join(appDir, "access.yaml"),
        token_ttl: auth.tokenTtl,
        ...(auth.sessionTtl === undefined ? {} : { session_ttl: auth.sessionTtl }),
        basic: auth.basic,
        private_blob_ttl: auth.privateBlobTtl,
      },
    ];
  }
  const ext = auth.external;
  return [
    "auth",
    {
      mode: "external",
      realm: ext.realm ?? "",
      service: ext.service ?? host,
      issuer: ext.issuer ?? "",
      ...(ext.rootCerts !== undefined
        ? { root_certs: path.posix.join(appDir, EXTERNAL_ROOTS_FILE) }
        : { jwks: path.posix.join(appDir, EXTERNAL_JWKS_FILE) }),
      private_blob_ttl: auth.privateBlobTtl,
    },
  ];
}

function environmentKeys(settings: IsvSettings): Record<string, string | boolean> {
  const env = settings.environment;
  if (env === undefined) return {};
  // On the ISV's shared store: tag objects under _env/<env>/, and maybe its own statistics and events.
  const shared: Record<string, boolean> = env.sharedStore
    ? { shared_store: true, own_records: env.ownRecords }
    : {};
  if (!env.promoteOnly) return { environment: env.name, ...shared };
  // Where images come from: the nearest earlier environment that takes pushes (never promote_only).
  const earlier = env.all.slice(0, env.all.indexOf(env.name));
  return { environment: env.name, promote_only: true, promote_from: earlier.at(-1) ?? "", ...shared };
}

/** Seconds between a replica's checks of the branch on OpenShift. */
export const OPENSHIFT_FOLLOW_INTERVAL = 10;

/** Where, on the local platform, the server keeps its bare copy of the followed app repository. */
export const FOLLOW_DIR = "follow.git";

/**
 * `[metadata]`: the server follows the app repository from git (docs/server.md, "Following the
 * app repository"): it reads each commit of the branch, never a directory, so a push is served
 * as one commit and `raas status` can compare that commit with the branch. Always on the local
 * platform (the ISV's bare remote; its bare copy lives beside it, so a restart does not fetch
 * again); on OpenShift with `openshift_follow = true` (the app_git_url; each replica keeps its
 * copy in a temp dir).
 */
function followSection(settings: IsvSettings, polling: number): Section | undefined {
  const platform = settings.platform;
  if (platform.kind === "openshift") {
    if (!platform.follow) return undefined;
    // Credentials never go in registry.conf (it is committed and built into the image): they
    // come from the optional Secret <app>-git through GIT_ASKPASS (templates/app/git-askpass.sh).
    if (/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(settings.appRemote)) {
      throw new UserError(
        `cannot follow ${redactUrl(settings.appRemote)} for ${settings.isv}: the URL holds credentials`,
        {
          hint: `With openshift_follow = true, set app_git_url without a user or token and put them in the Secret ${platform.appName}-git (keys username and password; docs/app-repo.md).`,
        },
      );
    }
    // Each replica checks the branch (one ls-remote) this often; a push notifies one of them at once.
    return [
      "metadata",
      {
        follow: settings.appRemote,
        follow_branch: settings.appBranch,
        follow_interval: OPENSHIFT_FOLLOW_INTERVAL,
      },
    ];
  }
  return [
    "metadata",
    {
      follow: path.resolve(settings.appRemote),
      follow_branch: settings.appBranch,
      follow_interval: polling,
      follow_dir: path.join(path.resolve(settings.isvDir), FOLLOW_DIR),
    },
  ];
}

/** Where, on the local platform, the write API keeps its working clones of the app repository. */
export const PUSH_CLONE_DIR = "push-clones";

/**
 * `[push]` (docs/push-api.md): the write API, when raas.cfg turns it on for this ISV (`[push]
 * enable`, or the ISV's `push` key). It publishes to the app repository setup made, on the branch
 * the registry follows, into the store the registry serves. Writes need a login, so without
 * `auth` every one would be refused: that is an error here rather than a registry that answers
 * 401 to everyone.
 */
function pushSection(settings: IsvSettings): Section | undefined {
  const push = settings.push;
  if (push === undefined || !push.enable) return undefined;
  const label =
    settings.environment === undefined ? settings.isv : `${settings.isv} --env ${settings.environment.name}`;
  if (settings.auth === undefined || settings.auth.mode === "off") {
    throw new UserError(`cannot turn on the write API for ${label}: pushes need a login, and auth is off`, {
      hint: `Set auth = local (or external) in [${settings.isv}] or [auth] of raas.cfg (docs/auth.md), or push = false in [${settings.isv}].`,
    });
  }
  const local = settings.platform.kind === "local";
  if (!local && /^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(settings.appRemote)) {
    throw new UserError(`cannot turn on the write API for ${label}: the app_git_url holds credentials`, {
      hint: "Set app_git_url without a user or token; the registry reads them from the Secret <app>-git (docs/app-repo.md).",
    });
  }
  return [
    "push",
    {
      enable: true,
      app_remote: local ? path.resolve(settings.appRemote) : settings.appRemote,
      app_branch: settings.appBranch,
      // In a container each process clones into the temp dir; locally beside the ISV's other state.
      ...(local ? { clone_dir: path.join(path.resolve(settings.isvDir), PUSH_CLONE_DIR) } : {}),
      allow_delete: push.allowDelete,
      ...(push.maxBlobSize === undefined ? {} : { max_blob_size: push.maxBlobSize }),
      ...(push.writeOnceTags.length === 0 ? {} : { write_once_tags: push.writeOnceTags.join(", ") }),
      ...(push.uploadMaxAge === undefined ? {} : { upload_max_age: push.uploadMaxAge }),
      // Pushed objects are readable as `raas push` makes them (public redirects need it).
      ...(settings.storage.kind === "s3" ? { public_read: settings.storage.publicRead } : {}),
    },
  ];
}

/** Characters or shapes that Crane's ConfigParser and raas's reader would not read alike. */
const AMBIGUOUS = /[;#%\\\r\n]|^\s|\s$|^["']/;

function render(sections: Section[], isv: string): string {
  const lines = [
    "# Written by raas setup; it is rewritten on every setup. Change raas.cfg instead.",
    "# No secrets here: storage credentials come from the environment.",
    "# Pulp Crane 3.3 reads the [general] and [serve_content] sections the same way.",
  ];
  for (const [name, values] of sections) {
    lines.push("", `[${name}]`);
    for (const [key, value] of Object.entries(values)) {
      const text = String(value);
      if (AMBIGUOUS.test(text)) {
        throw new UserError(
          `cannot write registry.conf for ${isv}: [${name}] ${key} = ${JSON.stringify(text)}`,
          {
            hint: "Crane and raas would read this value differently; avoid ; # % backslashes, a leading quote and surrounding spaces in paths, bucket names and URLs in raas.cfg.",
          },
        );
      }
      lines.push(`${key} = ${text}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

export function registryConf(settings: IsvSettings, options: ServerConfigOptions = {}): string {
  const { storage, platform } = settings;
  const local = platform.kind === "local";
  const appDir = local ? path.resolve(platform.deployDir) : IMAGE_APP_DIR;
  const polling = options.pollingIntervalSeconds ?? 2;
  if (!Number.isInteger(polling) || polling < 1) {
    // Crane reads it with int(): a fraction would stop it at start.
    throw new Error(`polling interval must be a whole number of seconds, not ${polling}`);
  }
  const sections: Section[] = [
    [
      "general",
      {
        debug: false,
        data_dir: path.posix.join(appDir, "data"),
        data_dir_polling_interval: polling,
        endpoint: options.endpoint ?? "",
      },
    ],
    [
      "raas",
      {
        manifest_dir: path.posix.join(appDir, "manifests"),
        // Reported by /readyz: `raas status` checks it is asking this ISV's registry.
        isv: settings.isv,
        // The lifecycle environment (docs/environments.md): a promote_only one refuses pushes through the write API.
        ...environmentKeys(settings),
        // In a container the server must listen on every interface; locally only on loopback.
        listen: local ? platform.host : "0.0.0.0",
        port: local ? platform.port : 5000,
        // HTTPS on the local platform (docs/configuration.md); on OpenShift TLS ends at the Route.
        ...(local && settings.tls !== undefined
          ? { tls_cert: settings.tls.certFile, tls_key: settings.tls.keyFile }
          : {}),
        // The CA clients trust (`--cert-dir`), for the web page's pull commands.
        ...(local && settings.tls?.certDir !== undefined ? { tls_cert_dir: settings.tls.certDir } : {}),
      },
    ],
  ];
  const metadata = followSection(settings, polling);
  if (metadata !== undefined) sections.push(metadata);
  if (storage.kind === "local") {
    const root = path.resolve(storage.root);
    sections.push([
      "serve_content",
      { enable: true, content_dir_v1: root, content_dir_v2: root, use_x_sendfile: false },
    ]);
  } else {
    // Both booleans, so Crane never looks for a missing one; the directories keep their defaults.
    sections.push(["serve_content", { enable: false, use_x_sendfile: false }]);
    sections.push([
      "storage",
      {
        kind: "s3",
        bucket: storage.bucket,
        endpoint: storage.endpoint ?? "",
        region: storage.region,
        force_path_style: storage.forcePathStyle,
        redirect: storage.redirect,
        presign_ttl: storage.presignTtl,
        public_base_url: storage.publicBaseUrl ?? "",
      },
    ]);
  }
  const auth = authSection(settings, appDir);
  if (auth !== undefined) sections.push(auth);
  const push = pushSection(settings);
  if (push !== undefined) sections.push(push);
  // Event endpoints, as raas.cfg has them (header credentials stay `${VARIABLE}` references).
  for (const [name, body] of endpointSections(settings.events ?? [])) sections.push([name, body]);
  return render(sections, settings.isv);
}
