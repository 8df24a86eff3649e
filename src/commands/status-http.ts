/** The checks `raas status` makes against the running registry app, over HTTP. */
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { identityFrom } from "../app/ping.js";
import { errorMessage } from "../errors.js";
import { MANIFEST_ACCEPT } from "../image/media-types.js";
import { mapLimit } from "../publish/pool.js";
import type { CheckList } from "./checks.js";

export type HttpLog = (line: string) => void;

/** fetch with a timeout and one debug line per request: method, URL without query, status, time. */
export async function timedFetch(
  url: string,
  init: RequestInit & { timeoutMs?: number },
  log: HttpLog,
): Promise<Response> {
  const started = Date.now();
  const method = init.method ?? "GET";
  const shown = url.split("?")[0] ?? url;
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 5000) });
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

/** A registry with `[auth]` asking for a login: what this check cannot see without one. */
const asksForLogin = (response: Response | HeadAnswer | undefined) =>
  response?.status === 401 &&
  /^Bearer /i.test(
    ("header" in response ? response.header("www-authenticate") : response.headers.get("www-authenticate")) ??
      "",
  );

/**
 * /v1/_ping must answer 200 `true` and /v2/ 200 (or ask for a login), and /readyz must name this ISV: on a shared
 * machine another ISV's registry may answer on the port. Returns whether this ISV's app is up.
 */
export async function checkApp(
  isv: string,
  appUrl: string,
  checks: CheckList,
  log: HttpLog,
): Promise<boolean> {
  try {
    const ping = await timedFetch(`${appUrl}/v1/_ping`, { redirect: "manual" }, log);
    const body = (await ping.text()).trim();
    const v2 = await timedFetch(`${appUrl}/v2/`, { redirect: "manual" }, log);
    await v2.arrayBuffer();
    // With [auth], /v2/ asks for a login (401 and a Bearer challenge): the app is up.
    if (ping.status !== 200 || body !== "true" || (v2.status !== 200 && !asksForLogin(v2))) {
      checks.fail(
        "registry app",
        `${appUrl}/v1/_ping answered ${ping.status} ${JSON.stringify(body.slice(0, 40))}, /v2/ answered ${v2.status}`,
        `check the app's logs; \`raas setup ${isv}\` redeploys it`,
      );
      return false;
    }
    const ready = await timedFetch(`${appUrl}/readyz`, { redirect: "manual" }, log);
    const identity = identityFrom(await ready.text());
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
  log: HttpLog,
): Promise<void> {
  const served: string[] = [];
  let next: string | undefined = "/v2/_catalog";
  try {
    while (next !== undefined) {
      const response = await timedFetch(new URL(next, appUrl).href, {}, log);
      if (response.status !== 200) throw new Error(`GET ${next} answered ${response.status}`);
      served.push(...((await response.json()) as { repositories: string[] }).repositories);
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
      `the app serves the ${names.length} repositor${names.length === 1 ? "y" : "ies"} in the metadata`,
    );
    return;
  }
  if (extra.length === 0) {
    // Without a login, a registry with [auth] lists only the anonymously pullable repositories.
    const base = await timedFetch(new URL("/v2/", appUrl).href, {}, log).catch(() => undefined);
    if (asksForLogin(base)) {
      checks.warn(
        "deployed repositories",
        `the app lists ${served.length} of ${names.length} repositories without a login ([auth] on); ${missing.length} private ones not checked`,
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

/**
 * Keep-alive HEAD requests for the served-tag checks. Not fetch: Node's fetch opens a new
 * connection for every HEAD answered with a Content-Length (measured: one connection per
 * request, 3-4x slower), and `status` sends one HEAD per tag, 100,000 for 10,000 x 10.
 */
export class HeadClient {
  private readonly agents = {
    "http:": new HttpAgent({ keepAlive: true }),
    "https:": new HttpsAgent({ keepAlive: true }),
  };

  constructor(private readonly log: HttpLog) {}

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
}

/** Larger answers are refused: 10,000 repositories make about 600 KiB. */
const MAX_LOADED_BYTES = 64 * 1024 * 1024;

/**
 * The registry's loaded state, or undefined when it does not say (a registry deployed by an
 * older raas answers 404): then every tag is HEADed, as before.
 */
export async function fetchLoaded(appUrl: string, log: HttpLog): Promise<LoadedState | undefined> {
  try {
    const response = await timedFetch(
      `${appUrl}/raas/loaded`,
      { redirect: "manual", timeoutMs: 30_000 },
      log,
    );
    if (response.status !== 200) {
      await response.arrayBuffer();
      return undefined;
    }
    const text = await response.text();
    if (text.length > MAX_LOADED_BYTES) return undefined;
    const body = JSON.parse(text) as { repositories?: unknown; loadedAt?: unknown };
    const repositories = new Map<string, string>();
    if (typeof body.repositories !== "object" || body.repositories === null) return undefined;
    for (const [name, digest] of Object.entries(body.repositories)) {
      if (typeof digest === "string") repositories.set(name, digest);
    }
    return { repositories, loadedAt: typeof body.loadedAt === "string" ? body.loadedAt : "" };
  } catch (error) {
    log(`the registry's loaded state is not available: ${errorMessage(error)}`);
    return undefined;
  }
}

/** Each tag must be served with the digest the metadata records. Returns the number of failures. */
export async function checkServed(
  isv: string,
  appUrl: string,
  name: string,
  tags: Record<string, string>,
  checks: CheckList,
  concurrency: number,
  client: HeadClient,
): Promise<number> {
  const results = await mapLimit(Object.entries(tags), concurrency, async ([tag, digest]) => {
    const response = await client.head(`${appUrl}/v2/${name}/manifests/${tag}`, { Accept: MANIFEST_ACCEPT });
    const served = response?.header("docker-content-digest");
    if (response?.status === 200 && served === digest) return undefined;
    if (asksForLogin(response)) {
      checks.warn(`${name}:${tag}`, "private ([auth]): not checked without a login");
      return undefined;
    }
    return {
      tag,
      detail: `the registry serves ${response?.status ?? "nothing"} ${served ?? ""} instead of ${digest}`,
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
  return problems;
}
