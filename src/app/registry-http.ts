/**
 * The requests raas itself makes to a registry it runs (setup's health check, `raas status`,
 * the `--wait` of push, sync, delete, promote and demote, push's notification, promote's check of
 * the source). Every command gets them from registryClientFor, never plain fetch. Over HTTPS they trust the registry's CA — raas's local CA,
 * or the operator's `[raas] tls_ca` — besides node's default CAs (NODE_EXTRA_CA_CERTS included); verification is never turned off.
 * With `[auth] login` they log in through the registry's own token endpoint, so private tags
 * are checked for real (docs/auth.md, "raas's own checks").
 */
import { readFile } from "node:fs/promises";
import { Agent, request } from "node:https";
import { Readable } from "node:stream";
import type { IsvSettings, LoginOrigin } from "../config/types.js";
import { UserError } from "../errors.js";
import { discardBody, textCapped } from "../adapters/http-body.js";
import { withDefaultCas } from "../adapters/trusted-ca.js";

export interface RegistryInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Redirects are never followed by the trusted client; "manual" is accepted for fetch's sake. */
  redirect?: "manual";
}

/** fetch, or a fetch that trusts the registry's CA; redirects are returned, not followed. */
export type RegistryFetch = (url: string, init?: RegistryInit) => Promise<Response>;

/** What a HEAD over node's http(s) agents needs to trust the registry (status's keep-alive client). */
export interface RegistryTrust {
  /** PEM certificates to trust (the system's plus the registry's CA); undefined: the defaults. */
  readonly ca: string[] | undefined;
  readonly fetch: RegistryFetch;
}

const plainFetch: RegistryFetch = (url, init = {}) => fetch(url, { redirect: "manual", ...init });

/** Statuses whose responses have no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 204, 205, 304]);

function httpsFetch(target: URL, init: RegistryInit, agent: Agent): Promise<Response> {
  const method = init.method ?? "GET";
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method,
        headers: init.headers ?? {},
        agent,
        ...(init.signal === undefined ? {} : { signal: init.signal }),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const headers = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          headers.append(res.rawHeaders[i] ?? "", res.rawHeaders[i + 1] ?? "");
        }
        const empty = method === "HEAD" || NULL_BODY.has(status);
        if (empty) res.resume();
        const body = empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
        resolve(new Response(body, { status, statusText: res.statusMessage ?? "", headers }));
      },
    );
    // The same shape as fetch's failures: a TypeError whose cause names the problem.
    req.on("error", (err) => reject(new TypeError("fetch failed", { cause: err })));
    req.end(init.body);
  });
}

/** A client trusting `caPem` besides node's default CAs (NODE_EXTRA_CA_CERTS included) for https:// URLs. */
export function registryTrust(caPem: string | undefined): RegistryTrust {
  if (caPem === undefined) return { ca: undefined, fetch: plainFetch };
  const ca = withDefaultCas(caPem);
  const agent = new Agent({ ca });
  return {
    ca,
    fetch: (url, init = {}) => {
      const target = new URL(url);
      return target.protocol === "https:" ? httpsFetch(target, init, agent) : plainFetch(url, init);
    },
  };
}

/**
 * The trust for an ISV's registry: its CA file when it serves HTTPS with one. A CA file that
 * is not there yet (setup has not run) trusts only the system's CAs, so requests fail with a
 * certificate error rather than skip verification.
 */
export async function trustFor(settings: IsvSettings): Promise<RegistryTrust> {
  const caFile = settings.tls?.caFile;
  if (caFile === undefined) return registryTrust(undefined);
  const pem = await readFile(caFile, "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw new UserError(`cannot read the registry's CA certificate ${caFile}: ${err.message}`);
  });
  return registryTrust(pem);
}

/** A Bearer challenge's parameters (`WWW-Authenticate: Bearer realm="…",service="…",scope="…"`). */
function parseChallenge(header: string): Record<string, string> | undefined {
  const m = /^Bearer\s+(.*)$/i.exec(header.trim());
  if (m === null) return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[1] ?? "").matchAll(/([A-Za-z_]+)="([^"]*)"/g)) params[p[1]!.toLowerCase()] = p[2] ?? "";
  return params;
}

const MAX_SECRET = 1024;

/**
 * raas's own registry login (`[auth] login` and `login_secret_file`): a user or service login
 * that answers the registry's Bearer challenges. The secret is sent only to the realm raas
 * configured (the registry's own /token, or `[auth] external_realm`), only over HTTPS or to a
 * loopback address, and is never printed. Tokens are cached per scope until shortly before
 * they expire.
 */
export class RegistryLogin {
  private readonly tokens = new Map<string, { value: Promise<string>; until: number }>();

  constructor(
    readonly name: string,
    private readonly secret: string,
    private readonly realm: string,
    private readonly fetcher: RegistryFetch,
    /** Where the name and the secret file were set, for a refusal to name (not always raas.cfg). */
    private readonly from: LoginOrigin = CONFIG_LOGIN,
  ) {}

  /** The Authorization header answering a 401's challenge. */
  authorization(challengeHeader: string): Promise<string> {
    const challenge = parseChallenge(challengeHeader);
    if (challenge?.realm !== this.realm) {
      return Promise.reject(
        new UserError(
          `the registry asks for a login at ${challenge?.realm ?? "an unknown realm"}, not at ${this.realm}; raas does not send its login there`,
          { code: "BAD_CONFIG", hint: "Check [auth] in raas.cfg and the registry's registry.conf." },
        ),
      );
    }
    const key = `${challenge.service ?? ""} ${challenge.scope ?? ""}`;
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.until > Date.now()) return cached.value;
    const value = this.fetchToken(challenge.service, challenge.scope, key);
    this.tokens.set(key, { value, until: Date.now() + 30_000 });
    value.catch(() => this.tokens.delete(key));
    return value;
  }

  private async fetchToken(
    service: string | undefined,
    scope: string | undefined,
    key: string,
  ): Promise<string> {
    const url = new URL(this.realm);
    if (service !== undefined) url.searchParams.set("service", service);
    if (scope !== undefined) url.searchParams.set("scope", scope);
    const basic = Buffer.from(`${this.name}:${this.secret}`).toString("base64");
    const response = await this.fetcher(url.href, {
      headers: { Authorization: `Basic ${basic}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (response.status === 401 || response.status === 403) {
      await discardBody(response);
      throw new UserError(`the registry refused the login ${this.name} (${describeLogin(this.from)})`, {
        code: "LOGIN_REFUSED",
        hint: `Check the name (${this.from.name}) and the password or token in the file ${this.from.secretFile} names.`,
      });
    }
    if (response.status !== 200) {
      await discardBody(response);
      throw new Error(`the token endpoint ${this.realm} answered ${response.status}`);
    }
    // A token answer is a few KiB; a token endpoint that sends more is not one.
    const body = JSON.parse(await textCapped(response, 1024 * 1024)) as {
      token?: unknown;
      access_token?: unknown;
      expires_in?: unknown;
    };
    const token = typeof body.token === "string" ? body.token : body.access_token;
    if (typeof token !== "string" || token === "") {
      throw new Error(`the token endpoint ${this.realm} sent no token`);
    }
    const ttl = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
    // Renew a little before the registry would: a check that starts with a token about to expire fails.
    const entry = this.tokens.get(key);
    if (entry !== undefined) entry.until = Date.now() + Math.max(1, ttl - 10) * 1000;
    return `Bearer ${token}`;
  }
}

/** Where raas may send its login: the realm its configuration names for this registry. */
function configuredRealm(settings: IsvSettings): string | undefined {
  const auth = settings.auth;
  if (auth === undefined || auth.mode === "off") return undefined;
  return auth.mode === "local" ? `${settings.appUrl}/token` : auth.external.realm;
}

/** The keys of raas.cfg that name the login, when nothing says the environment set them. */
export const CONFIG_LOGIN: LoginOrigin = { name: "[auth] login", secretFile: "[auth] login_secret_file" };

/** Where a login was set, as messages name it: `[auth] login, its secret from RAAS_REGISTRY_SECRET_FILE`. */
export function describeLogin(from: LoginOrigin): string {
  return `${from.name}, its secret from ${from.secretFile}`;
}

/**
 * The one line of the login's secret file (`[auth] login_secret_file` or
 * RAAS_REGISTRY_SECRET_FILE, as `from` says): the login's password or service-login token.
 */
export async function readLoginSecret(file: string, from = CONFIG_LOGIN.secretFile): Promise<string> {
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`cannot read ${from} ${file}: ${err.code ?? err.message}`, {
      code: "BAD_CONFIG",
      hint: "Name a file holding the login's password or service-login token (RAAS_REGISTRY_SECRET_FILE).",
    });
  });
  const secret = text.replace(/\r?\n$/, "");
  if (secret === "" || secret.length > MAX_SECRET || /[\r\n]/.test(secret)) {
    throw new UserError(`${from} ${file} must hold one line: the password or token`, {
      code: "BAD_CONFIG",
    });
  }
  return secret;
}

/** The ISV's `[auth] login`, if one is configured; its secret read from its file. */
export async function loginFor(
  settings: IsvSettings,
  fetcher: RegistryFetch,
): Promise<RegistryLogin | undefined> {
  const login = settings.auth?.login;
  const realm = configuredRealm(settings);
  if (login?.name === undefined || login.secretFile === undefined || realm === undefined) return undefined;
  const from = login.from ?? CONFIG_LOGIN;
  const secret = await readLoginSecret(login.secretFile, from.secretFile);
  const target = new URL(realm);
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(target.hostname);
  if (target.protocol !== "https:" && !loopback) {
    throw new UserError(`refusing to send the registry login to ${realm} over plain HTTP`, {
      code: "BAD_CONFIG",
      hint: "Serve the registry over HTTPS (docs/configuration.md, HTTPS).",
    });
  }
  return new RegistryLogin(login.name, secret, realm, fetcher, from);
}

/**
 * How a client pulls from the registry: plain HTTP (`tls: false`), HTTPS with raas's CA in
 * `certDir` (skopeo and podman `--cert-dir`), or HTTPS the system already trusts.
 */
export interface RegistryTlsHint {
  tls: boolean;
  certDir?: string;
}

/** The pull commands' TLS options for an ISV's registry (push's and promote's "Pull it with"). */
export function registryTlsHint(settings: IsvSettings): RegistryTlsHint {
  return {
    tls: new URL(settings.appUrl).protocol === "https:",
    ...(settings.tls?.certDir === undefined ? {} : { certDir: settings.tls.certDir }),
  };
}

/** Everything raas's own requests to the ISV's registry need: trust, and the login if any. */
export interface RegistryClient extends RegistryTrust {
  readonly login: RegistryLogin | undefined;
}

export async function registryClientFor(settings: IsvSettings): Promise<RegistryClient> {
  const trust = await trustFor(settings);
  return { ...trust, login: await loginFor(settings, trust.fetch) };
}
