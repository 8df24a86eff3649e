import { readFile } from "node:fs/promises";
import * as v from "valibot";
import { parse as parseYaml } from "yaml";
import { UserError } from "../errors.js";
import { isRepositoryName, isTag } from "../image/names.js";
import { isRegistryHost } from "../sources/registry/reference.js";
import type { RegistrySourceOptions } from "../sources/registry/index.js";
import { DEFAULT_TAG_RULES, type NameRule, type TagRules } from "./rules.js";

/** The sync specification (docs/sync.md): upstream registries, their repositories and rules. */
export interface SyncSpec {
  upstreams: UpstreamSpec[];
}
export interface UpstreamSpec {
  registry: string;
  source: RegistrySourceOptions;
  repositories: RepositorySpec[];
}
export interface RepositorySpec {
  source: string;
  name: NameRule;
  tags: TagRules;
}

const SPEC_LIMIT = 1024 * 1024;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * An unknown key, named as the file spells it, with the key meant when it is a near miss
 * (`tlsverify` for `tlsVerify`), else the keys the mapping takes.
 */
function unknownKey(key: string, known: readonly string[]): string {
  const shown = JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
  const near = known
    .map((k) => ({ k, d: k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(k, key) }))
    .filter((c) => c.d <= 2)
    .sort((a, b) => a.d - b.d)[0];
  return `unknown key ${shown} (${near === undefined ? `expected one of ${known.join(", ")}` : `did you mean ${near.k}?`})`;
}

/** Levenshtein distance, for keys only (both at most a few dozen characters). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || b.length > 64) return 3;
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        (row[j] ?? 0) + 1,
        (next[j - 1] ?? 0) + 1,
        (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    row = next;
  }
  return row[b.length] ?? 0;
}

/** A mapping of the spec: unknown keys are errors that say which key was meant. */
function strict<const E extends v.ObjectEntries>(entries: E) {
  const known = Object.keys(entries);
  return v.strictObject(entries, (issue) =>
    issue.expected === "never"
      ? unknownKey(String(issue.input), known)
      : issue.expected?.startsWith('"') === true && issue.input === undefined
        ? `missing key ${issue.expected}`
        : issue.message,
  );
}

/** Two upstream tags renamed onto one published tag: an error of the spec, not of one run. */
function renameCollision(renames: Record<string, string>): string | undefined {
  const seen = new Map<string, string>();
  for (const from of Object.keys(renames).sort()) {
    const as = renames[from] ?? from;
    const other = seen.get(as);
    if (other !== undefined) return `tags ${other} and ${from} would both be published as ${as}`;
    seen.set(as, from);
  }
  return undefined;
}

const Glob = v.pipe(v.string(), v.minLength(1), v.maxLength(256));
const Globs = v.pipe(v.array(Glob), v.maxLength(256));
const Tag = v.pipe(v.string(), v.check(isTag, "must be a valid tag"));
const Rules = {
  include: v.optional(Globs),
  exclude: v.optional(Globs),
  rename: v.optional(
    v.pipe(
      v.record(Tag, Tag),
      v.check((r) => Object.keys(r).length <= 1000, "too many renames"),
      v.check(
        (r) => renameCollision(r) === undefined,
        (issue) => renameCollision(issue.input as Record<string, string>) ?? "",
      ),
    ),
  ),
  newTags: v.optional(v.picklist(["auto", "manual"])),
  approve: v.optional(v.pipe(v.array(Tag), v.maxLength(10_000))),
};
const Repository = strict({
  source: v.pipe(v.string(), v.check(isRepositoryName, "must be a valid repository name")),
  name: v.optional(v.pipe(v.string(), v.check(isRepositoryName, "must be a valid repository name"))),
  stripPrefix: v.optional(Glob),
  slash: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(8))),
  ...Rules,
});
const Upstream = strict({
  registry: v.pipe(
    v.string(),
    v.check((h) => isRegistryHost(h.toLowerCase()), "must be host or host:port"),
  ),
  tlsVerify: v.optional(v.boolean()),
  caFile: v.optional(v.pipe(v.string(), v.minLength(1))),
  credentials: v.optional(
    strict({
      usernameEnv: v.pipe(v.string(), v.regex(ENV_NAME, "must be an environment variable name")),
      passwordEnv: v.pipe(v.string(), v.regex(ENV_NAME, "must be an environment variable name")),
    }),
  ),
  defaults: v.optional(strict(Rules)),
  repositories: v.pipe(v.array(Repository), v.minLength(1), v.maxLength(10_000)),
});
const Spec = strict({
  version: v.literal(1),
  upstreams: v.pipe(v.array(Upstream), v.minLength(1), v.maxLength(1000)),
});

type Parsed = v.InferOutput<typeof Spec>;
type ParsedRules = Partial<{ [K in keyof typeof Rules]: v.InferOutput<(typeof Rules)[K]> }>;

function rulesOf(own: ParsedRules, defaults: ParsedRules | undefined): TagRules {
  const pick = <K extends keyof ParsedRules>(key: K) => own[key] ?? defaults?.[key];
  return {
    include: pick("include") ?? DEFAULT_TAG_RULES.include,
    exclude: pick("exclude") ?? [],
    rename: pick("rename") ?? {},
    newTags: pick("newTags") ?? "auto",
    approve: pick("approve") ?? [],
  };
}

/** Parses and validates a specification; every problem is reported at once, by path. */
export function parseSyncSpec(text: string, file: string): SyncSpec {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100, prettyErrors: true });
  } catch (err) {
    throw new UserError(
      `${file}: not valid YAML (${err instanceof Error ? err.message.split("\n")[0] : String(err)})`,
    );
  }
  const result = v.safeParse(Spec, doc);
  if (!result.success) {
    const problems = result.issues
      .slice(0, 20)
      .map((issue) => `  ${v.getDotPath(issue) ?? "(top)"}: ${issue.message}`)
      .join("\n");
    throw new UserError(`${file}: not a valid sync specification\n${problems}`, {
      hint: "See docs/sync.md for the format.",
      code: "BAD_INPUT",
    });
  }
  const parsed: Parsed = result.output;
  return {
    upstreams: parsed.upstreams.map((u) => ({
      registry: u.registry.toLowerCase(),
      source: {
        ...(u.tlsVerify === undefined ? {} : { tlsVerify: u.tlsVerify }),
        ...(u.caFile === undefined ? {} : { caFile: u.caFile }),
        ...(u.credentials === undefined
          ? {}
          : { credentialVars: { username: u.credentials.usernameEnv, password: u.credentials.passwordEnv } }),
      },
      repositories: u.repositories.map((r) => ({
        source: r.source,
        name: {
          ...(r.name === undefined ? {} : { name: r.name }),
          ...(r.stripPrefix === undefined ? {} : { stripPrefix: r.stripPrefix }),
          ...(r.slash === undefined ? {} : { slash: r.slash }),
        },
        tags: rulesOf(r, u.defaults),
      })),
    })),
  };
}

export async function loadSyncSpec(file: string): Promise<SyncSpec> {
  const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`${file}: cannot read the sync specification (${err.code ?? err.message})`, {
      hint: "Give the file with --spec (default raas-sync.yaml in the current directory).",
      exitCode: 2,
    });
  });
  if (bytes.length > SPEC_LIMIT) throw new UserError(`${file}: larger than ${SPEC_LIMIT} bytes`);
  return parseSyncSpec(bytes.toString("utf8"), file);
}
