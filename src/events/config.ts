/**
 * Event endpoints: one `[events.<name>]` section each, in raas.cfg and (carried unchanged) in
 * registry.conf. The knobs are those of the reference registry's `notifications.endpoints`:
 * url, headers, timeout, threshold, backoff, ignored actions and media types.
 */
import { UserError } from "../errors.js";
import type { EventAction } from "./envelope.js";

export interface EndpointConfig {
  /** The section's name after `events.`: [a-z0-9-]{1,32}; it names the endpoint's storage state. */
  name: string;
  url: string;
  /** `header.<Name> = value`; `${VAR}` in a value is read from the server's environment at start. */
  headers: Record<string, string>;
  timeoutMs: number;
  /** Failures in a row before the endpoint backs off. */
  threshold: number;
  backoffMs: number;
  ignoredActions: EventAction[];
  ignoredMediaTypes: string[];
  /** Outbox objects kept for this endpoint at most; older ones are dropped (and counted). */
  maxBacklog: number;
  /**
   * `pull_events`: `window` (default) stores pull events once per `pull_window` per worker,
   * without making the pull wait; `request` stores each before its response. The outbox is
   * shared, so `request` on any endpoint makes every pull event durable per request.
   */
  pullEvents: "window" | "request";
  pullWindowMs: number;
}

export const ENDPOINT_SECTION = /^events\.([a-z0-9][a-z0-9-]{0,31})$/;
const ACTIONS: EventAction[] = ["push", "pull", "delete", "promote", "mount"];
const KEYS = new Set([
  "url",
  "timeout",
  "threshold",
  "backoff",
  "ignored_actions",
  "ignored_media_types",
  "max_backlog",
  "pull_events",
  "pull_window",
]);
const SECRET_HEADER = /authorization|token|secret|key|cookie|password/i;
const HEADER_NAME = /^[A-Za-z0-9!#$&'*+.^_`|~-]{1,64}$/;

/** `500ms`, `5s`, `2m`, `1h`, or a bare number of seconds, as milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null) return undefined;
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"] ?? 1000;
  const value = Number(m[1]) * factor;
  return value <= 24 * 3_600_000 ? Math.round(value) : undefined;
}

const list = (text: string | undefined) =>
  (text ?? "")
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== "");

/**
 * Parse every `[events.<name>]` section of `sections`. All problems are collected and thrown as
 * one UserError naming `where`.
 */
export function parseEndpoints(
  sections: Record<string, Record<string, string> | undefined>,
  where: string,
  /** When given, problems are added here instead of thrown. */
  collect?: string[],
): EndpointConfig[] {
  const problems: string[] = [];
  const endpoints: EndpointConfig[] = [];
  for (const [section, body = {}] of Object.entries(sections)) {
    if (!section.startsWith("events.")) continue;
    const name = ENDPOINT_SECTION.exec(section)?.[1];
    if (name === undefined) {
      problems.push(`[${section}]: an endpoint name is 1-32 lower-case letters, digits or dashes`);
      continue;
    }
    const bad = (key: string, what: string) => problems.push(`[${section}] ${key} ${what}`);
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(body)) {
      if (key.startsWith("header.")) {
        const header = key.slice("header.".length);
        if (!HEADER_NAME.test(header) || /[\r\n]/.test(value)) bad(key, "is not a valid HTTP header");
        else if (SECRET_HEADER.test(header) && !/\$\{[A-Za-z_][A-Za-z0-9_]*\}/.test(value)) {
          // registry.conf is committed to the app repository: a credential must come from the environment.
          bad(
            key,
            "looks like a credential: write it as ${VARIABLE} and set the variable where the registry runs",
          );
        } else headers[header] = value.trim();
      } else if (!KEYS.has(key)) bad(key, "is not a known key");
    }
    const url = (body.url ?? "").trim();
    if (!/^https?:\/\/[^\s]+$/.test(url)) bad("url", `must be an http(s) URL, not "${url}"`);
    else if (hasUserinfo(url)) {
      // Not echoed: the URL carries a credential, and registry.conf is committed.
      bad(
        "url",
        "must not carry a user or password (user:pass@host): send the credential in an Authorization header written as ${VARIABLE}",
      );
    }
    const duration = (key: string, fallback: number) => {
      const text = body[key];
      if (text === undefined) return fallback;
      const ms = parseDuration(text);
      if (ms === undefined) bad(key, `must be a duration like 500ms, 5s or 1m, not "${text}"`);
      return ms ?? fallback;
    };
    const integer = (key: string, fallback: number, min: number, max: number) => {
      const text = body[key];
      if (text === undefined) return fallback;
      const n = Number(text.trim());
      if (!Number.isInteger(n) || n < min || n > max) bad(key, `must be a whole number ${min}..${max}`);
      return Number.isInteger(n) ? n : fallback;
    };
    const actions = list(body.ignored_actions);
    for (const a of actions) {
      if (!ACTIONS.includes(a as EventAction)) bad("ignored_actions", `has an unknown action "${a}"`);
    }
    const pullEvents = (body.pull_events ?? "window").trim();
    if (pullEvents !== "window" && pullEvents !== "request") {
      bad("pull_events", `must be window or request, not "${pullEvents.slice(0, 40)}"`);
    }
    const pullWindowMs = duration("pull_window", 1000);
    if (pullWindowMs < 10 || pullWindowMs > 60_000) bad("pull_window", "must be between 10ms and 60s");
    endpoints.push({
      name,
      url,
      headers,
      timeoutMs: Math.max(1, duration("timeout", 5000)),
      threshold: integer("threshold", 3, 1, 1000),
      backoffMs: duration("backoff", 1000),
      ignoredActions: actions as EventAction[],
      ignoredMediaTypes: list(body.ignored_media_types),
      maxBacklog: integer("max_backlog", 10_000, 1, 10_000_000),
      pullEvents: pullEvents === "request" ? "request" : "window",
      pullWindowMs: Math.min(Math.max(pullWindowMs, 10), 60_000),
    });
  }
  if (collect !== undefined) collect.push(...problems);
  else if (problems.length > 0) {
    throw new UserError(`${where}: invalid event endpoint settings:\n  ${problems.join("\n  ")}`, {
      hint: "See docs/events.md for the [events.<name>] keys.",
    });
  }
  return endpoints;
}

/** The section bodies as registry.conf carries them (values as written in raas.cfg). */
export function endpointSections(endpoints: EndpointConfig[]): [string, Record<string, string>][] {
  return endpoints.map((e) => [
    `events.${e.name}`,
    {
      url: e.url,
      timeout: `${e.timeoutMs}ms`,
      threshold: String(e.threshold),
      backoff: `${e.backoffMs}ms`,
      ...(e.ignoredActions.length === 0 ? {} : { ignored_actions: e.ignoredActions.join(",") }),
      ...(e.ignoredMediaTypes.length === 0 ? {} : { ignored_media_types: e.ignoredMediaTypes.join(",") }),
      max_backlog: String(e.maxBacklog),
      pull_events: e.pullEvents,
      pull_window: `${e.pullWindowMs}ms`,
      ...Object.fromEntries(Object.entries(e.headers).map(([k, v]) => [`header.${k}`, v])),
    },
  ]);
}

/** Expand `${VAR}` in header values from `env` (secrets stay out of the committed config). */
export function expandHeaders(
  headers: Record<string, string>,
  env: NodeJS.ProcessEnv,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([k, v]) => [
      k,
      v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, n: string) => env[n] ?? ""),
    ]),
  );
}

/** Whether a URL names a user or password before its host (`http://user:pass@host/`). */
function hasUserinfo(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.username !== "" || parsed.password !== "";
  } catch {
    return false; // not a URL: the scheme check above reports it
  }
}
