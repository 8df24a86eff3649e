/**
 * Health checks of a running registry app: GET /v1/_ping must say `true`, GET /v2/ must be 200
 * (or 401 with a Bearer challenge, when the registry requires a login), and GET /readyz names
 * whose registry it is. One probe for setup's wait and for `raas status` (which adds its messages).
 */
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { UserError, errorMessage } from "../errors.js";
import { discardBody, textCapped } from "../adapters/http-body.js";
import { isJsonObject } from "../image/records.js";
import type { RegistryFetch } from "./registry-http.js";

const defaultFetch: RegistryFetch = (url, init) => fetch(url, init);

/** A ping or /readyz answer is a few bytes; a server that sends more is not a raas registry. */
const SMALL_BODY = 64 * 1024;

/** One GET of the probe, with the caller's timeout, trust and logging. */
export type ProbeGet = (url: string) => Promise<Response>;

/** What a registry answered to the health probe. */
export interface ProbeAnswer {
  /** GET /v1/_ping: its status and body (trimmed, at most SMALL_BODY bytes read). */
  ping: { status: number; body: string };
  /** GET /v2/: its status, and whether it asked for a login (which is healthy). */
  v2: { status: number; asksForLogin: boolean };
  /** undefined when healthy, otherwise what is wrong. */
  problem: string | undefined;
}

/** A registry with `[auth]` asking for a login: 401 with a Bearer challenge. */
export function isLoginChallenge(status: number, wwwAuthenticate: string | null | undefined): boolean {
  return status === 401 && /^Bearer /i.test(wwwAuthenticate ?? "");
}

/**
 * What a healthy answer was, as setup reports it: the statuses actually observed, never assumed
 * (with [auth], /v2/ answers 401 with a Bearer challenge, not 200).
 */
export function describeHealthy(answer: ProbeAnswer): string {
  const v2 = answer.v2.asksForLogin
    ? `${answer.v2.status} with a Bearer challenge (auth on)`
    : String(answer.v2.status);
  return `/v1/_ping answers ${answer.ping.body}, /v2/ answers ${v2}`;
}

/** GET /v1/_ping and /v2/ under `base`; throws when nothing answers. */
export async function probeRegistry(base: string, get: ProbeGet): Promise<ProbeAnswer> {
  const ping = await get(`${base}/v1/_ping`);
  const body = (await textCapped(ping, SMALL_BODY)).trim();
  const v2 = await get(`${base}/v2/`);
  await discardBody(v2);
  const asksForLogin = isLoginChallenge(v2.status, v2.headers.get("www-authenticate"));
  let problem: string | undefined;
  if (ping.status !== 200 || body !== "true") {
    problem = `GET /v1/_ping answered ${ping.status} ${body.slice(0, 80)}`;
  } else if (v2.status !== 200 && !asksForLogin) {
    problem = `GET /v2/ answered ${v2.status}`;
  }
  return { ping: { status: ping.status, body }, v2: { status: v2.status, asksForLogin }, problem };
}

/** The ISV the registry under `base` says it serves (GET /readyz); throws when nothing answers. */
export async function identityAt(base: string, get: ProbeGet): Promise<string | undefined> {
  return identityFrom(await textCapped(await get(`${base}/readyz`), SMALL_BODY));
}

/** undefined when healthy, otherwise what is wrong. */
export async function pingProblem(
  url: string,
  timeoutMs = 2000,
  log?: (line: string) => void,
  fetcher: RegistryFetch = defaultFetch,
): Promise<string | undefined> {
  return (await pingOnce(url, timeoutMs, log, fetcher)).problem;
}

/** One probe: the answer when healthy, otherwise what is wrong. */
type Probed = { healthy: ProbeAnswer; problem?: undefined } | { healthy?: undefined; problem: string };

async function pingOnce(
  url: string,
  timeoutMs: number,
  log: ((line: string) => void) | undefined,
  fetcher: RegistryFetch,
): Promise<Probed> {
  const base = url.replace(/\/+$/, "");
  const started = Date.now();
  const result = await probe(base, timeoutMs, fetcher);
  log?.(
    `HTTP GET ${base}/v1/_ping, ${base}/v2/ -> ${result.problem ?? "healthy"} (${Date.now() - started} ms)`,
  );
  return result;
}

async function probe(base: string, timeoutMs: number, fetcher: RegistryFetch): Promise<Probed> {
  try {
    const get = (url: string) => fetcher(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
    const answer = await probeRegistry(base, get);
    return answer.problem === undefined ? { healthy: answer } : { problem: answer.problem };
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    return { problem: errorMessage(cause instanceof Error ? cause : err) };
  }
}

async function tail(file: string, lines: number): Promise<string | undefined> {
  try {
    const text = (await readFile(file, "utf8")).trimEnd();
    return text === "" ? undefined : text.split("\n").slice(-lines).join("\n");
  } catch {
    return undefined;
  }
}

export interface WaitForPingOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** The server's log, quoted in the error when it never answers. */
  logFile?: string;
  /** Each health request with its timing, for --log debug. */
  log?: (line: string) => void;
  /** The ISV, so the hint names the command to run. */
  isv?: string;
  /** A fetch trusting the registry's CA (HTTPS with raas's local CA). */
  fetch?: RegistryFetch;
}

/**
 * Poll until the app is healthy, and return what it answered then (for setup to report what it
 * saw); a UserError naming the URL (and the log's last lines) on timeout.
 */
export async function waitForPing(url: string, options: WaitForPingOptions = {}): Promise<ProbeAnswer> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  let problem: string | undefined;
  for (;;) {
    const result = await pingOnce(
      url,
      Math.min(2000, Math.max(100, deadline - Date.now())),
      options.log,
      options.fetch ?? defaultFetch,
    );
    if (result.healthy !== undefined) return result.healthy;
    problem = result.problem;
    if (Date.now() + intervalMs > deadline) break;
    await sleep(intervalMs);
  }
  const log = options.logFile === undefined ? undefined : await tail(options.logFile, 15);
  throw new UserError(
    `the registry at ${url} did not become healthy within ${Math.round(timeoutMs / 1000)} s: ${problem}` +
      (log === undefined
        ? ""
        : `\n  last lines of ${options.logFile}:\n    ${log.split("\n").join("\n    ")}`),
    {
      code: "APP_UNHEALTHY",
      hint: `Check the server log; \`raas status${options.isv === undefined ? "" : ` ${options.isv}`}\` shows what else is wrong.`,
    },
  );
}

/**
 * Whose registry answers at `url`: the ISV its /readyz reports (`[raas] isv` of its
 * registry.conf); undefined from an app that does not say (an older raas, or Crane).
 * Throws when nothing answers.
 */
export async function registryIdentity(
  url: string,
  timeoutMs = 2000,
  fetcher: RegistryFetch = defaultFetch,
): Promise<string | undefined> {
  return identityAt(url.replace(/\/+$/, ""), (target) =>
    fetcher(target, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" }),
  );
}

/** The `isv` of a /readyz body, if it names one. */
function identityFrom(text: string): string | undefined {
  try {
    const body: unknown = JSON.parse(text);
    const isv = isJsonObject(body) ? body.isv : undefined;
    return typeof isv === "string" && isv !== "" ? isv : undefined;
  } catch {
    return undefined;
  }
}

/** How long a registry that follows the app repository is given to catch up once notified. */
export const FOLLOW_CATCH_UP_MS = 10_000;

/** The commit a following registry serves (GET /raas/loaded), or undefined when it does not say. */
export async function servedCommit(
  base: string,
  fetcher: RegistryFetch = defaultFetch,
): Promise<string | undefined> {
  try {
    const res = await fetcher(`${base}/raas/loaded`, {
      signal: AbortSignal.timeout(30_000),
      redirect: "manual",
    });
    if (res.status !== 200) {
      await discardBody(res);
      return undefined;
    }
    const body: unknown = JSON.parse(await textCapped(res, 64 * 1024 * 1024));
    const commit = isJsonObject(body) ? body.commit : undefined;
    return typeof commit === "string" && /^[0-9a-f]{40,64}$/.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A following registry serving another commit than `head` is told to look now (POST
 * /raas/notify) and given `catchUpMs`. Returns the commit it still serves when it did not catch
 * up, undefined when it serves `head` (or does not say what it serves).
 */
export async function catchUp(
  base: string,
  head: string,
  fetcher: RegistryFetch = defaultFetch,
  catchUpMs = FOLLOW_CATCH_UP_MS,
): Promise<string | undefined> {
  let served = await servedCommit(base, fetcher);
  if (served === undefined || served === head) return undefined;
  await fetcher(`${base}/raas/notify`, {
    method: "POST",
    signal: AbortSignal.timeout(5000),
    redirect: "manual",
  })
    .then(discardBody)
    .catch(() => undefined);
  for (const deadline = Date.now() + catchUpMs; Date.now() < deadline;) {
    await sleep(250);
    served = (await servedCommit(base, fetcher)) ?? served;
    if (served === head) return undefined;
  }
  return served;
}
