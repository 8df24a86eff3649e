/** The checks `raas status` makes against the running registry app, over HTTP. */
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import * as v from "valibot";
import { catchUp, FOLLOW_CATCH_UP_MS, identityAt, isLoginChallenge, probeRegistry } from "../app/ping.js";
import type { RegistryClient, RegistryFetch } from "../app/registry-http.js";
import { errorMessage } from "../errors.js";
import { MANIFEST_ACCEPT } from "../image/media-types.js";
import { mapLimit } from "../publish/pool.js";
import type { CheckList } from "./checks.js";
import { discardBody, textCapped } from "../adapters/http-body.js";

export type HttpLog = (line: string) => void;

/** How status reaches the registry: its trust (HTTPS) and raas's login, and the debug log. */
export interface StatusHttp {
  readonly client: RegistryClient;
  readonly log: HttpLog;
}

type TimedInit = {
  method?: string;
  headers?: Record<string, string>;
  redirect?: "manual";
  timeoutMs?: number;
};

/** fetch with a timeout and one debug line per request: method, URL without query, status, time. */
export async function timedFetch(
  url: string,
  init: TimedInit,
  log: HttpLog,
  fetcher: RegistryFetch = (u, i) => fetch(u, i),
): Promise<Response> {
  const started = Date.now();
  const method = init.method ?? "GET";
  const shown = url.split("?")[0] ?? url;
  const { timeoutMs, ...rest } = init;
  try {
    const response = await fetcher(url, { ...rest, signal: AbortSignal.timeout(timeoutMs ?? 5000) });
    log(`HTTP ${method} ${shown} -> ${response.status} (${Date.now() - started} ms)`);
    return response;
  } catch (error) {
    log(`HTTP ${method} ${shown} failed after ${Date.now() - started} ms: ${causeOf(error)}`);
    throw error;
  }
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? errorMessage(error);
}

/** One page of GET /v2/_catalog, as far as the check reads it. */
const CatalogPage = v.looseObject({ repositories: v.array(v.string()) });

/** Node's codes for a certificate that does not verify (expired, unknown CA, wrong host). */
const TLS_PROBLEM = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_TLS_CERT|ERR_SSL_)/;

/** A registry with `[auth]` asking for a login: what this check cannot see without one. */
const asksForLogin = (response: Response | HeadAnswer | undefined) =>
  response !== undefined &&
  isLoginChallenge(
    response.status,
    "header" in response ? response.header("www-authenticate") : response.headers.get("www-authenticate"),
  );

/** One page of /v2/_catalog (the server pages at 1,000 names of at most 255 bytes). */
const CATALOG_PAGE_BODY = 16 * 1024 * 1024;
/**
 * /v1/_ping must answer 200 `true` and /v2/ 200 (or ask for a login), and /readyz must name this ISV: on a shared
 * machine another ISV's registry may answer on the port. Returns whether this ISV's app is up.
 */
export async function checkApp(
  isv: string,
  appUrl: string,
  checks: CheckList,
  http: StatusHttp,
): Promise<boolean> {
  const { log } = http;
  const get = (url: string) => timedFetch(url, { redirect: "manual" }, log, http.client.fetch);
  try {
    // With [auth], /v2/ asks for a login (401 and a Bearer challenge): the app is up.
    const { ping, v2, problem } = await probeRegistry(appUrl, get);
    if (problem !== undefined) {
      checks.fail(
        "registry app",
        `${appUrl}/v1/_ping answered ${ping.status} ${JSON.stringify(ping.body.slice(0, 40))}, /v2/ answered ${v2.status}`,
        `check the app's logs; \`raas setup ${isv}\` redeploys it`,
      );
      return false;
    }
    const identity = await identityAt(appUrl, get);
    if (identity === undefined) {
      checks.warn(
        "registry app",
        `${appUrl} answers /v1/_ping and /v2/ but does not say whose registry it is (an app deployed by an older raas, or another server); run \`raas setup ${isv}\` to update it`,
      );
      return true;
    }
    if (identity !== isv) {
      checks.fail(
        "registry app",
        `${appUrl} is the registry of ${identity}, not of ${isv}`,
        `two ISVs share the address: give ${isv} its own port (\`port = <n>\` in its [${isv}] section of raas.cfg), then \`raas setup ${isv}\``,
      );
      return false;
    }
    checks.ok("registry app", `${appUrl} answers /v1/_ping and /v2/ as ${isv}'s registry`);
    return true;
  } catch (error) {
    if (TLS_PROBLEM.test(causeOf(error))) {
      checks.fail(
        "registry app",
        `${appUrl} answers with a certificate raas does not trust (${causeOf(error)})`,
        `\`raas setup ${isv}\` renews the certificate and restarts the server`,
      );
      return false;
    }
    checks.fail(
      "registry app",
      `the registry app is stopped: ${appUrl} does not answer (${causeOf(error)})`,
      `start it with \`raas setup ${isv}\` (background) or \`raas serve ${isv}\``,
    );
  }
  return false;
}

/** The repositories the running app serves (/v2/_catalog, all pages) must be those in the metadata. */
export async function checkCatalog(
  isv: string,
  appUrl: string,
  names: readonly string[],
  checks: CheckList,
  http: StatusHttp,
): Promise<void> {
  const { log, client } = http;
  const served: string[] = [];
  let next: string | undefined = "/v2/_catalog";
  let anonymous = true;
  try {
    let authorization: string | undefined;
    if (client.login !== undefined) {
      // An anonymous catalog answers 200 with the public repositories only: ask /v2/ for the
      // realm, and list the catalog as raas's login.
      const base = await timedFetch(new URL("/v2/", appUrl).href, {}, log, client.fetch);
      await discardBody(base);
      const challenge = base.headers.get("www-authenticate");
      if (asksForLogin(base) && challenge !== null) {
        const withoutScope = challenge.replace(/,\s*scope="[^"]*"/i, "");
        authorization = await client.login.authorization(`${withoutScope},scope="registry:catalog:*"`);
        anonymous = false;
      }
    }
    while (next !== undefined) {
      const url: string = new URL(next, appUrl).href;
      const get = (): Promise<Response> =>
        timedFetch(
          url,
          authorization === undefined ? {} : { headers: { Authorization: authorization } },
          log,
          client.fetch,
        );
      let response: Response = await get();
      const challenge = response.headers.get("www-authenticate");
      if (asksForLogin(response) && client.login !== undefined && challenge !== null) {
        // With raas's login the catalog lists everything that login may pull.
        await discardBody(response);
        authorization = await client.login.authorization(challenge);
        anonymous = false;
        response = await get();
      }
      if (response.status !== 200) throw new Error(`GET ${next} answered ${response.status}`);
      const catalog = v.safeParse(CatalogPage, JSON.parse(await textCapped(response, CATALOG_PAGE_BODY)));
      if (!catalog.success) throw new Error(`GET ${next} answered no list of repository names`);
      served.push(...catalog.output.repositories);
      next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get("link") ?? "")?.[1];
    }
  } catch (error) {
    checks.fail(
      "deployed repositories",
      `cannot read the catalog: ${errorMessage(error)}`,
      "check the app's logs",
    );
    return;
  }
  served.sort();
  // Sets, not Array.includes: 10,000 repositories would be 10^8 comparisons.
  const servedSet = new Set(served);
  const named = new Set(names);
  const missing = names.filter((n) => !servedSet.has(n));
  const extra = served.filter((n) => !named.has(n));
  if (missing.length === 0 && extra.length === 0) {
    checks.ok(
      "deployed repositories",
      `the app serves the ${names.length} repositor${names.length === 1 ? "y" : "ies"} in the metadata${anonymous ? "" : ` (as ${client.login?.name ?? ""})`}`,
    );
    return;
  }
  if (extra.length === 0) {
    // Without a login (or with one that may not pull everything), a registry with [auth] lists
    // only what the caller may pull: the rest was not checked, and status says so.
    const base = await timedFetch(new URL("/v2/", appUrl).href, {}, log, client.fetch).catch(() => undefined);
    if (asksForLogin(base) || !anonymous) {
      checks.warn(
        "deployed repositories",
        `the app lists ${served.length} of ${names.length} repositories ${anonymous ? "without a login" : `to ${client.login?.name ?? ""}`} ([auth] on); ${missing.length} private one(s) NOT checked${anonymous ? ` (${NO_LOGIN_HINT})` : ""}`,
      );
      return;
    }
  }
  const parts = [
    missing.length > 0
      ? `does not serve ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? "..." : ""}`
      : "",
    extra.length > 0 ? `serves ${extra.slice(0, 5).join(", ")} which the metadata does not list` : "",
  ].filter((p) => p !== "");
  checks.fail(
    "deployed repositories",
    `the running app ${parts.join(" and ")}`,
    `the app has not picked up the latest metadata or runs an old deployment; \`raas setup ${isv}\` redeploys it`,
  );
}

/** What to do so that status can check private repositories. */
export const NO_LOGIN_HINT =
  "give raas a registry login: [auth] login and login_secret_file, or RAAS_REGISTRY_LOGIN and RAAS_REGISTRY_SECRET_FILE";

/**
 * Keep-alive HEAD requests for the served-tag checks. Not fetch: Node's fetch opens a new
 * connection for every HEAD answered with a Content-Length (measured: one connection per
 * request, 3-4x slower), and `status` sends one HEAD per tag, 100,000 for 10,000 x 10.
 */
export class HeadClient {
  private readonly agents: { "http:": HttpAgent; "https:": HttpsAgent };

  /** `ca`: the certificates to trust over HTTPS (the registry's CA with the system's). */
  constructor(
    private readonly log: HttpLog,
    ca?: string[],
  ) {
    this.agents = {
      "http:": new HttpAgent({ keepAlive: true }),
      "https:": new HttpsAgent({ keepAlive: true, ...(ca === undefined ? {} : { ca }) }),
    };
  }

  /** Status and headers, or undefined when there was no answer (logged either way). */
  async head(
    url: string,
    headers: Record<string, string>,
    timeoutMs = 5000,
  ): Promise<HeadAnswer | undefined> {
    const started = Date.now();
    const target = new URL(url);
    const shown = `${target.origin}${target.pathname}`;
    const secure = target.protocol === "https:";
    if (!secure && target.protocol !== "http:") throw new Error(`cannot check ${shown}: not http or https`);
    try {
      const answer = await new Promise<HeadAnswer>((resolve, reject) => {
        const request = (secure ? httpsRequest : httpRequest)(
          target,
          { method: "HEAD", headers, agent: this.agents[secure ? "https:" : "http:"], timeout: timeoutMs },
          (response) => {
            response.resume();
            response.on("end", () =>
              resolve({
                status: response.statusCode ?? 0,
                header: (name) => {
                  const value = response.headers[name.toLowerCase()];
                  return Array.isArray(value) ? value.join(", ") : value;
                },
              }),
            );
            response.on("error", reject);
          },
        );
        request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        request.on("error", reject);
        request.end();
      });
      this.log(`HTTP HEAD ${shown} -> ${answer.status} (${Date.now() - started} ms)`);
      return answer;
    } catch (error) {
      this.log(`HTTP HEAD ${shown} failed after ${Date.now() - started} ms: ${causeOf(error)}`);
      return undefined;
    }
  }

  close(): void {
    this.agents["http:"].destroy();
    this.agents["https:"].destroy();
  }
}

export interface HeadAnswer {
  status: number;
  header(name: string): string | undefined;
}

/** What the registry reports it has loaded (`GET /raas/loaded`): repository name -> tags digest. */
export interface LoadedState {
  repositories: Map<string, string>;
  loadedAt: string;
  /** The commit served, when the registry follows the app repository. */
  commit?: string;
}

/** Larger answers are refused: 10,000 repositories make about 600 KiB. */
const MAX_LOADED_BYTES = 64 * 1024 * 1024;

/**
 * The registry's loaded state, or undefined when it does not say (a registry deployed by an
 * older raas answers 404): then every tag is HEADed, as before.
 */
export async function fetchLoaded(appUrl: string, http: StatusHttp): Promise<LoadedState | undefined> {
  const { log, client } = http;
  try {
    // Anonymous: a repository the registry lists only to a login is not reported, and is HEADed
    // in full (with raas's login, when it has one).
    const response = await timedFetch(
      `${appUrl}/raas/loaded`,
      { redirect: "manual", timeoutMs: 30_000 },
      log,
      client.fetch,
    );
    if (response.status !== 200) {
      await discardBody(response);
      return undefined;
    }
    const text = await textCapped(response, MAX_LOADED_BYTES);
    const body = JSON.parse(text) as { repositories?: unknown; loadedAt?: unknown; commit?: unknown };
    const repositories = new Map<string, string>();
    if (typeof body.repositories !== "object" || body.repositories === null) return undefined;
    for (const [name, digest] of Object.entries(body.repositories)) {
      if (typeof digest === "string") repositories.set(name, digest);
    }
    return {
      repositories,
      loadedAt: typeof body.loadedAt === "string" ? body.loadedAt : "",
      ...(typeof body.commit === "string" && /^[0-9a-f]{40,64}$/.test(body.commit)
        ? { commit: body.commit }
        : {}),
    };
  } catch (error) {
    log(`the registry's loaded state is not available: ${errorMessage(error)}`);
    return undefined;
  }
}

/** How long status waits for a following registry to catch up with the branch after notifying it. */
export const CATCH_UP_MS = FOLLOW_CATCH_UP_MS;

/**
 * A registry that follows the app repository serves one commit: compare it with the branch's
 * newest. A registry merely behind (a push a moment ago) is told to look now (POST
 * /raas/notify) and given CATCH_UP_MS; one still behind after that cannot follow the
 * repository (its copy or the remote is broken, or it follows another remote), and serves
 * stale metadata until it can. Returns the freshest loaded state.
 */
export async function checkServedCommit(
  isv: string,
  appUrl: string,
  head: string | undefined,
  loaded: LoadedState,
  checks: CheckList,
  http: StatusHttp,
  catchUpMs = CATCH_UP_MS,
): Promise<LoadedState> {
  const served = loaded.commit;
  if (served === undefined) return loaded;
  const short = (commit: string) => commit.slice(0, 12);
  if (head === undefined) {
    checks.fail(
      "served commit",
      `the registry serves commit ${short(served)}, but the app repository has no commits`,
      `the registry follows another repository: \`raas setup ${isv}\` writes its registry.conf again`,
    );
    return loaded;
  }
  let latest = loaded;
  if (served !== head) {
    await catchUp(appUrl, head, http.client.fetch, catchUpMs);
    latest = (await fetchLoaded(appUrl, http)) ?? latest;
  }
  if (latest.commit === head) {
    checks.ok("served commit", `the registry serves ${short(head)}, the newest commit of the app repository`);
  } else {
    checks.fail(
      "served commit",
      `the registry serves commit ${short(latest.commit ?? served)} (loaded ${latest.loadedAt}), but the app repository is at ${short(head)}: it has not followed the repository for ${Math.round(catchUpMs / 1000)} s after being notified`,
      "the registry cannot fetch the app repository: its log names the failing git command; fix the remote or the registry's copy of it, or run `raas setup " +
        isv +
        "` to restart it",
    );
  }
  return latest;
}

/** What the served-tag checks of one repository found. */
export interface ServedResult {
  problems: number;
  /** Private tags not checked: raas has no login, or its login may not pull them. */
  unchecked: number;
}

/**
 * Each tag must be served with the digest the metadata records. A private tag is checked with
 * raas's login when it has one; without, it is counted as unchecked, never as served.
 */
export async function checkServed(
  isv: string,
  appUrl: string,
  name: string,
  tags: Record<string, string>,
  checks: CheckList,
  concurrency: number,
  client: HeadClient,
  login: RegistryClient["login"],
): Promise<ServedResult> {
  let unchecked = 0;
  const results = await mapLimit(Object.entries(tags), concurrency, async ([tag, digest]) => {
    const url = `${appUrl}/v2/${name}/manifests/${tag}`;
    let response = await client.head(url, { Accept: MANIFEST_ACCEPT });
    const challenge = response?.header("www-authenticate");
    if (asksForLogin(response) && challenge !== undefined) {
      if (login === undefined) {
        unchecked++;
        return undefined;
      }
      const authorization = await login.authorization(challenge);
      response = await client.head(url, { Accept: MANIFEST_ACCEPT, Authorization: authorization });
      if (response?.status === 401 || response?.status === 403) {
        // The login may not pull this repository: not checked either, and not a served problem.
        unchecked++;
        return undefined;
      }
    }
    const served = response?.header("docker-content-digest");
    if (response?.status === 200 && served === digest) return undefined;
    return {
      tag,
      detail: `the registry serves ${response?.status ?? "nothing"} ${served ?? ""}${login === undefined ? "" : ` to ${login.name}`} instead of ${digest}`,
    };
  });
  let problems = 0;
  for (const result of results) {
    if (result === undefined) continue;
    checks.fail(
      `${name}:${result.tag}`,
      result.detail,
      `the app has not reloaded or runs an old deployment; \`raas setup ${isv}\` redeploys it`,
    );
    problems++;
  }
  return { problems, unchecked };
}
