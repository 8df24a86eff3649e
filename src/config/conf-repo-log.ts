/**
 * The run log: a Reporter that passes everything on to the real one and keeps a timestamped
 * copy of what the run reported (info and above, step outcomes, the final error) for the
 * configuration repository. Every line is scrubbed of the configured secret values — a second
 * line of defence behind code that never prints them in the first place.
 */
import type { LogLevel, Reporter, Step } from "../ui/reporter.js";
import type { LoadedConfig } from "./types.js";

const MASK = "***";

/** Secret values worth scrubbing: credentials from the configuration, the environment and URL userinfo. */
export function secretValues(config: LoadedConfig, env: NodeJS.ProcessEnv): string[] {
  const values = new Set<string>();
  const add = (value: string | undefined) => {
    // Very short values would scrub ordinary words; real credentials are never that short.
    if (value !== undefined && value.length >= 6) values.add(value);
  };
  add(config.aws.accessKeyId);
  add(config.aws.secretAccessKey);
  add(config.aws.sessionToken);
  add(config.openshift.token);
  for (const name of [
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "RAAS_OPENSHIFT_TOKEN",
  ]) {
    add(env[name]);
  }
  const urls = [
    config.openshift.appGitUrl,
    config.redhat.metadataRepo,
    config.source.kind === "conf-repo" ? config.source.repo.url : undefined,
    ...Object.values(config.isvs).map((s) => s.appGitUrl),
  ];
  for (const url of urls) {
    const userinfo = url === undefined ? undefined : /^[a-z][a-z0-9+.-]*:\/\/([^@/]+)@/i.exec(url)?.[1];
    if (userinfo === undefined) continue;
    for (const part of userinfo.split(":")) {
      add(part);
      add(safeDecode(part));
    }
  }
  // Longest first, so a secret containing another is replaced whole.
  return [...values].sort((a, b) => b.length - a.length);
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export function scrub(line: string, secrets: readonly string[]): string {
  let out = line;
  for (const secret of secrets) out = out.split(secret).join(MASK);
  return out;
}

export class RunLog implements Reporter {
  private readonly entries: string[] = [];

  constructor(
    private readonly inner: Reporter,
    private readonly secrets: readonly string[],
    private readonly now: () => Date = () => new Date(),
  ) {}

  get level(): LogLevel {
    return this.inner.level;
  }

  /** The recorded lines, scrubbed, each `<ISO time> <level> <message>`. */
  get lines(): readonly string[] {
    return this.entries;
  }

  record(level: string, message: string): void {
    const stamp = this.now().toISOString();
    for (const part of scrub(message, this.secrets).split("\n")) {
      if (part.trim() !== "") this.entries.push(`${stamp} ${level} ${part}`);
    }
  }

  error(message: string): void {
    this.record("error", message);
    this.inner.error(message);
  }
  warn(message: string): void {
    this.record("warn", message);
    this.inner.warn(message);
  }
  info(message: string): void {
    this.record("info", message);
    this.inner.info(message);
  }
  debug(message: string): void {
    this.inner.debug(message);
  }
  step(text: string): Step {
    const inner = this.inner.step(text);
    return {
      update: (t) => inner.update(t),
      succeed: (t) => {
        this.record("ok", t ?? text);
        inner.succeed(t);
      },
      fail: (t) => {
        this.record("failed", t ?? text);
        inner.fail(t);
      },
      info: (t) => {
        this.record("info", t ?? text);
        inner.info(t);
      },
    };
  }
}
