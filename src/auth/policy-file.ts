/**
 * `access.yaml`: parse and validate (all problems at once, unknown keys rejected), and write back
 * in a stable order so that every change is a small, reviewable diff.
 */
import * as v from "valibot";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { InputError } from "../errors.js";
import { isJsonObject } from "../image/records.js";
import { compileGlob } from "./glob.js";
import { isPasswordHash } from "./passwords.js";
import type { App, Group, Policy, Privilege, PromotionRule, ServiceLogin, TagRule, User } from "./policy.js";
import { isPolicyName, MAX_NAME_LENGTH, PRIVILEGES } from "./policy.js";

export const POLICY_FILE = "access.yaml";
export const MAX_POLICY_BYTES = 4 * 1024 * 1024;
const MAX_LIST = 10_000;

const TOKEN_HASH_RE = /^sha256:[a-f0-9]{64}$/;

const name = v.pipe(
  v.string(),
  v.check(isPolicyName, "must be a lower-case name ([a-z0-9] with . _ -, at most 64)"),
);
const names = v.pipe(v.array(name), v.maxLength(MAX_LIST));
const privileges = v.pipe(v.array(v.picklist(PRIVILEGES)), v.maxLength(PRIVILEGES.length));
const pattern = v.pipe(
  v.string(),
  v.check((s) => compileGlob(s) !== undefined, "is not a valid pattern"),
);

const userSchema = v.strictObject({
  id: v.optional(name),
  password: v.optional(
    v.pipe(v.string(), v.check(isPasswordHash, "must be a $scrypt$ hash written by raas")),
  ),
  privileges: v.optional(privileges, []),
});
const groupSchema = v.strictObject({ id: v.optional(name), members: v.optional(names, []) });
const appSchema = v.strictObject({
  id: v.optional(name),
  publicationGroups: v.optional(names, []),
  responsibleGroups: v.optional(names, []),
});
const serviceSchema = v.strictObject({
  app: name,
  token: v.pipe(v.string(), v.regex(TOKEN_HASH_RE, "must be sha256:<64 hex>")),
  privileges: v.optional(privileges, ["puller"]),
});
const tagSchema = v.strictObject({
  repository: pattern,
  tag: pattern,
  push: v.optional(names, []),
  promote: v.optional(names, []),
});
// The environment name grammar of raas.cfg (`environments = test uat prod`).
const environmentName = v.pipe(
  v.string(),
  v.regex(
    /^[a-z][a-z0-9]{0,15}$/,
    "must be an environment name (1-16 lower-case letters and digits, starting with a letter)",
  ),
);
const promotionSchema = v.strictObject({
  environments: v.optional(v.pipe(v.array(environmentName), v.maxLength(64)), []),
  repository: v.optional(pattern, "**"),
  tags: v.optional(
    v.pipe(v.array(pattern), v.minLength(1, "must list at least one pattern"), v.maxLength(64)),
    ["*"],
  ),
  promote: v.optional(names, []),
  demote: v.optional(names, []),
});
// Keyed sections are validated entry by entry (see parseSections): valibot's record() silently
// drops keys such as `__proto__` and `constructor`, and a name must never vanish silently.
const keyed = v.optional(
  v.custom<Record<string, unknown>>(
    (x) => x !== null && typeof x === "object" && !Array.isArray(x) && Object.keys(x).length <= MAX_LIST,
    `must be a mapping of at most ${MAX_LIST} names`,
  ),
  {},
);

const fileSchema = v.strictObject({
  version: v.literal(1),
  registry: v.optional(
    v.strictObject({
      mode: v.optional(v.picklist(["restricted", "unrestricted"]), "restricted"),
      anonymousPull: v.optional(v.pipe(v.array(pattern), v.maxLength(MAX_LIST)), []),
      responsibleGroups: v.optional(names, []),
      publicationGroups: v.optional(names, []),
    }),
    {},
  ),
  users: keyed,
  groups: keyed,
  apps: keyed,
  services: keyed,
  tags: v.optional(v.pipe(v.array(tagSchema), v.maxLength(MAX_LIST)), []),
  promotions: v.optional(v.pipe(v.array(promotionSchema), v.maxLength(MAX_LIST)), []),
});
const sectionSchemas = { users: userSchema, groups: groupSchema, apps: appSchema, services: serviceSchema };
type Section = keyof typeof sectionSchemas;
type Entries<S extends Section> = Map<string, v.InferOutput<(typeof sectionSchemas)[S]>>;
interface PolicyFile extends Omit<v.InferOutput<typeof fileSchema>, Section> {
  users: Entries<"users">;
  groups: Entries<"groups">;
  apps: Entries<"apps">;
  services: Entries<"services">;
}

function issueText(prefix: string, issues: readonly v.BaseIssue<unknown>[]): string[] {
  return issues.map((issue) => {
    const path = [prefix, ...(issue.path ?? []).map((p) => String(p.key))].filter((p) => p !== "").join(".");
    return path === "" ? issue.message : `${path}: ${issue.message}`;
  });
}

function parseSection<S extends Section>(
  section: S,
  raw: Record<string, unknown>,
  problems: string[],
): Entries<S> {
  const out: Entries<S> = new Map();
  for (const key of Object.keys(raw)) {
    if (!isPolicyName(key)) {
      problems.push(`${section}: ${JSON.stringify(key.slice(0, MAX_NAME_LENGTH))} is not a valid name`);
      continue;
    }
    const result = v.safeParse(sectionSchemas[section], raw[key]);
    if (result.success) out.set(key, result.output);
    else problems.push(...issueText(`${section}.${key}`, result.issues));
  }
  return out;
}

export function parsePolicy(text: string, fileName = POLICY_FILE): Policy {
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES) {
    throw new InputError(fileName, `is larger than ${MAX_POLICY_BYTES} bytes`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 100, uniqueKeys: true });
  } catch (err) {
    throw new InputError(fileName, `is not valid YAML: ${(err as Error).message.split("\n")[0]}`, {
      cause: err,
    });
  }
  const problems: string[] = [];
  const result = v.safeParse(fileSchema, raw);
  if (!result.success) problems.push(...issueText("", result.issues));
  // Sections are checked even when the top level has problems, so every problem is listed at once.
  const rawSection = (section: Section): Record<string, unknown> => {
    const value = isJsonObject(raw) ? raw[section] : undefined;
    return isJsonObject(value) ? value : {};
  };
  const users = parseSection("users", rawSection("users"), problems);
  const groups = parseSection("groups", rawSection("groups"), problems);
  const apps = parseSection("apps", rawSection("apps"), problems);
  const services = parseSection("services", rawSection("services"), problems);
  const file: PolicyFile | undefined = result.success
    ? { ...result.output, users, groups, apps, services }
    : undefined;
  if (problems.length > 0 || file === undefined) {
    throw new InputError(fileName, `is not a valid access policy:\n  ${problems.join("\n  ")}`, {
      hint: "See docs/auth.md for the file format.",
    });
  }
  const policy = build(file);
  const crossProblems = crossCheck(policy);
  if (crossProblems.length > 0) {
    throw new InputError(fileName, `is not a consistent access policy:\n  ${crossProblems.join("\n  ")}`, {
      hint: "See docs/auth.md for the file format.",
    });
  }
  return policy;
}

function entries<T>(map: Map<string, T>): [string, T][] {
  return [...map.entries()];
}

function build(file: PolicyFile): Policy {
  const users = new Map<string, User>();
  for (const [n, u] of entries(file.users)) {
    users.set(n, {
      name: n,
      id: u.id,
      passwordHash: u.password,
      privileges: new Set<Privilege>(u.privileges),
    });
  }
  const groups = new Map<string, Group>();
  for (const [n, g] of entries(file.groups)) {
    groups.set(n, { name: n, id: g.id, members: new Set(g.members) });
  }
  const apps = new Map<string, App>();
  for (const [n, a] of entries(file.apps)) {
    apps.set(n, {
      name: n,
      id: a.id,
      publicationGroups: a.publicationGroups,
      responsibleGroups: a.responsibleGroups,
    });
  }
  const services = new Map<string, ServiceLogin>();
  for (const [n, s] of entries(file.services)) {
    services.set(n, {
      name: n,
      app: s.app,
      tokenHash: s.token,
      privileges: new Set<Privilege>(s.privileges),
    });
  }
  const tags: TagRule[] = file.tags.map((t, index) => ({
    index,
    repository: compileGlob(t.repository)!,
    tag: compileGlob(t.tag)!,
    push: new Set(t.push),
    promote: new Set(t.promote),
  }));
  const promotions: PromotionRule[] = file.promotions.map((p, index) => ({
    index,
    environments: new Set(p.environments),
    repository: compileGlob(p.repository)!,
    tags: p.tags.map((t) => compileGlob(t)!),
    promote: new Set(p.promote),
    demote: new Set(p.demote),
  }));
  const registry = file.registry;
  return {
    registry: {
      mode: registry.mode,
      anonymousPull: registry.anonymousPull.map((p) => compileGlob(p)!),
      responsibleGroups: registry.responsibleGroups,
      publicationGroups: registry.publicationGroups,
    },
    users,
    groups,
    apps,
    services,
    tags,
    promotions,
  };
}

/** References must resolve, and ids must not shadow another entry's name (users/<x> is one owner). */
function crossCheck(policy: Policy): string[] {
  const problems: string[] = [];
  const needGroup = (where: string, g: string) => {
    if (!policy.groups.has(g)) problems.push(`${where}: unknown group "${g}"`);
  };
  const unique = (section: string, items: Iterable<{ name: string; id: string | undefined }>) => {
    const seen = new Map<string, string>();
    for (const item of items) {
      for (const key of item.id === undefined || item.id === item.name ? [item.name] : [item.name, item.id]) {
        const other = seen.get(key);
        if (other !== undefined) {
          problems.push(`${section}: "${key}" names both "${other}" and "${item.name}"`);
        } else seen.set(key, item.name);
      }
    }
  };
  unique("users", policy.users.values());
  unique("groups", policy.groups.values());
  unique("apps", policy.apps.values());
  for (const s of policy.services.keys()) {
    if (policy.users.has(s)) {
      problems.push(`services: "${s}" is also a user name; login names must be unique`);
    }
  }
  for (const g of policy.groups.values()) {
    for (const m of g.members) {
      if (!policy.users.has(m)) problems.push(`groups.${g.name}: unknown member "${m}"`);
    }
  }
  for (const a of policy.apps.values()) {
    for (const g of a.publicationGroups) needGroup(`apps.${a.name}.publicationGroups`, g);
    for (const g of a.responsibleGroups) needGroup(`apps.${a.name}.responsibleGroups`, g);
  }
  for (const g of policy.registry.publicationGroups) needGroup("registry.publicationGroups", g);
  for (const g of policy.registry.responsibleGroups) needGroup("registry.responsibleGroups", g);
  for (const s of policy.services.values()) {
    if (!policy.apps.has(s.app)) problems.push(`services.${s.name}: unknown app "${s.app}"`);
  }
  for (const t of policy.tags) {
    for (const subject of [...t.push, ...t.promote]) {
      if (!policy.users.has(subject) && !policy.groups.has(subject)) {
        problems.push(`tags.${t.index}: "${subject}" is neither a user nor a group`);
      }
    }
  }
  for (const p of policy.promotions) {
    for (const subject of [...p.promote, ...p.demote]) {
      if (!policy.users.has(subject) && !policy.groups.has(subject)) {
        problems.push(`promotions.${p.index}: "${subject}" is neither a user nor a group`);
      }
    }
  }
  return problems;
}

const sorted = <T>(map: ReadonlyMap<string, T>): [string, T][] =>
  [...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
const withId = (id: string | undefined) => (id === undefined ? {} : { id });

/** Stable YAML for the policy: sections and names in order, no secrets beyond hashes. */
export function serializePolicy(policy: Policy): string {
  const file = {
    version: 1,
    registry: {
      mode: policy.registry.mode,
      anonymousPull: policy.registry.anonymousPull.map((g) => g.source),
      responsibleGroups: [...policy.registry.responsibleGroups],
      publicationGroups: [...policy.registry.publicationGroups],
    },
    users: Object.fromEntries(
      sorted(policy.users).map(([n, u]) => [
        n,
        {
          ...withId(u.id),
          ...(u.passwordHash === undefined ? {} : { password: u.passwordHash }),
          privileges: PRIVILEGES.filter((p) => u.privileges.has(p)),
        },
      ]),
    ),
    groups: Object.fromEntries(
      sorted(policy.groups).map(([n, g]) => [n, { ...withId(g.id), members: [...g.members].sort() }]),
    ),
    apps: Object.fromEntries(
      sorted(policy.apps).map(([n, a]) => [
        n,
        {
          ...withId(a.id),
          publicationGroups: [...a.publicationGroups],
          responsibleGroups: [...a.responsibleGroups],
        },
      ]),
    ),
    services: Object.fromEntries(
      sorted(policy.services).map(([n, s]) => [
        n,
        { app: s.app, token: s.tokenHash, privileges: PRIVILEGES.filter((p) => s.privileges.has(p)) },
      ]),
    ),
    tags: policy.tags.map((t) => ({
      repository: t.repository.source,
      tag: t.tag.source,
      push: [...t.push],
      promote: [...t.promote],
    })),
    // Only when there are any, so files written before promotion rules existed keep their text.
    ...(policy.promotions.length === 0
      ? {}
      : {
          promotions: policy.promotions.map((p) => ({
            environments: [...p.environments],
            repository: p.repository.source,
            tags: p.tags.map((t) => t.source),
            promote: [...p.promote],
            demote: [...p.demote],
          })),
        }),
  };
  return stringifyYaml(file, { lineWidth: 0 });
}

export function emptyPolicy(): Policy {
  return parsePolicy("version: 1\n");
}
