/**
 * Lifecycle environments (docs/environments.md): `environments = test uat prod` in an ISV's
 * section declares them, and an optional `[<isv>.<env>]` section says what differs for one of
 * them (its port or URL, its app repository, a store of its own). Parsed here, checked against
 * the ISV's declaration, every problem collected with the others.
 */
import type { Sections } from "../crane/ini.js";
import { isIsvName } from "../image/names.js";
import type { EnvironmentSection, IsvSection } from "./types.js";
import * as v from "./values.js";

type Problems = { errors: string[]; warnings: string[] };

const ENV_KEYS: { [K in keyof Required<EnvironmentSection>]: { key: string; parse: v.Parser<unknown> } } = {
  port: { key: "port", parse: v.port },
  appUrl: { key: "app_url", parse: v.httpUrl },
  appGitUrl: { key: "app_git_url", parse: v.text },
  appGitBranch: { key: "app_git_branch", parse: v.branch },
  s3Bucket: { key: "s3_bucket", parse: v.bucket },
  store: { key: "store", parse: v.oneOf("shared", "own") },
  openshiftApp: { key: "openshift_app", parse: v.dnsLabel },
};

/** Section families with a dot that are not `[<isv>.<env>]`; no ISV may be called by these names. */
const RESERVED_FAMILIES: ReadonlyMap<string, string> = new Map([
  ["events", "[events.<name>] (event endpoints)"],
  ["retention", "[retention.<isv>.<rule>] (retention rules)"],
]);

/**
 * Why `isv` cannot name an ISV, or undefined when it can: `events` and `retention` would make
 * `[events.test]` both an endpoint and an environment, so they are refused wherever an ISV is named.
 */
export function reservedIsvName(isv: string): string | undefined {
  const family = RESERVED_FAMILIES.get(isv);
  if (family === undefined) return undefined;
  return `"${isv}" cannot name an ISV: it is the section family ${family}; choose another ISV name`;
}

/** `[<isv>.<env>]`: an ISV name, a dot, an environment name. */
export function environmentSectionName(section: string): { isv: string; env: string } | undefined {
  const dot = section.indexOf(".");
  if (dot < 0) return undefined;
  const isv = section.slice(0, dot);
  // `[events.<name>]` and `[retention.<isv>.<rule>]` are families of their own, not environments.
  if (RESERVED_FAMILIES.has(isv)) return undefined;
  const env = section.slice(dot + 1);
  return isIsvName(isv) && v.isEnvironmentName(env) ? { isv, env } : undefined;
}

/** Every `[<isv>.<env>]` section, checked against the environments each ISV declares. */
export function parseEnvironmentSections(
  sections: Sections,
  isvs: Record<string, IsvSection>,
  problems: Problems,
): Record<string, Record<string, EnvironmentSection>> {
  const out: Record<string, Record<string, EnvironmentSection>> = {};
  for (const [name, isv] of Object.entries(isvs)) {
    const envs = isv.environments ?? [];
    for (const env of isv.promoteOnly ?? []) {
      if (!envs.includes(env)) {
        problems.errors.push(
          `[${name}] promote_only: ${env} is not one of its environments (${envs.join(", ") || "none declared"})`,
        );
      }
    }
    if (envs.length > 0 && (isv.promoteOnly ?? []).includes(envs[0] ?? "")) {
      problems.errors.push(
        `[${name}] promote_only: ${envs[0] ?? ""} is the first environment; images could never enter it`,
      );
    }
  }
  for (const [section, body] of Object.entries(sections)) {
    const parsedName = environmentSectionName(section);
    if (parsedName === undefined) continue;
    const { isv, env } = parsedName;
    const declared = isvs[isv]?.environments ?? [];
    if (!declared.includes(env)) {
      problems.errors.push(
        `[${section}]: ${isv} declares no environment ${env} (add it to environments = ... in [${isv}])`,
      );
      continue;
    }
    const parsed: Record<string, unknown> = {};
    for (const [key, raw] of Object.entries(body)) {
      const entry = Object.entries(ENV_KEYS).find(([, spec]) => spec.key === key);
      if (entry === undefined) {
        problems.warnings.push(`[${section}] ${key}: unknown key, ignored`);
        continue;
      }
      try {
        parsed[entry[0]] = entry[1].parse(raw);
      } catch (err) {
        if (!(err instanceof v.BadValue)) throw err;
        problems.errors.push(`[${section}] ${key}: ${err.message}`);
      }
    }
    (out[isv] ??= {})[env] = parsed;
  }
  return out;
}
