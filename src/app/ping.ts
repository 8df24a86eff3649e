/**
 * Health checks of a running registry app: GET /v1/_ping must say `true`, GET /v2/ must be 200
 * (or 401 with a Bearer challenge, when the registry requires a login).
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
/** undefined when healthy, otherwise what is wrong. */
export async function pingProblem(
  url: string,
  timeoutMs = 2000,
  log?: (line: string) => void,
  fetcher: RegistryFetch = defaultFetch,
): Promise<string | undefined> {
  const base = url.replace(/\/+$/, "");
  const started = Date.now();
  const problem = await probe(base, timeoutMs, fetcher);
  log?.(`HTTP GET ${base}/v1/_ping, ${base}/v2/ -> ${problem ?? "healthy"} (${Date.now() - started} ms)`);
  return problem;
}

async function probe(base: string, timeoutMs: number, fetcher: RegistryFetch): Promise<string | undefined> {
  try {
    const ping = await fetcher(`${base}/v1/_ping`, {
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "manual",
    });
    const body = (await textCapped(ping, SMALL_BODY)).trim();
    if (ping.status !== 200 || body !== "true") {
      return `GET /v1/_ping answered ${ping.status} ${body.slice(0, 80)}`;
    }
    const v2 = await fetcher(`${base}/v2/`, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
    await discardBody(v2);
    // A registry that requires a login ([auth]) answers 401 with its token realm: that is healthy.
    const challenge = v2.status === 401 && /^Bearer /i.test(v2.headers.get("www-authenticate") ?? "");
    if (v2.status !== 200 && !challenge) return `GET /v2/ answered ${v2.status}`;
    return undefined;
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    return errorMessage(cause instanceof Error ? cause : err);
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

/** Poll until the app is healthy; a UserError naming the URL (and the log's last lines) on timeout. */
export async function waitForPing(url: string, options: WaitForPingOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  let problem: string | undefined;
  for (;;) {
    problem = await pingProblem(
      url,
      Math.min(2000, Math.max(100, deadline - Date.now())),
      options.log,
      options.fetch,
    );
    if (problem === undefined) return;
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
  const response = await fetcher(`${url.replace(/\/+$/, "")}/readyz`, {
    signal: AbortSignal.timeout(timeoutMs),
    redirect: "manual",
  });
  return identityFrom(await textCapped(response, SMALL_BODY));
}

/** The `isv` of a /readyz body, if it names one. */
export function identityFrom(text: string): string | undefined {
  try {
    const body: unknown = JSON.parse(text);
    const isv = isJsonObject(body) ? body.isv : undefined;
    return typeof isv === "string" && isv !== "" ? isv : undefined;
  } catch {
    return undefined;
  }
}
