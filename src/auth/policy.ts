/**
 * The access policy: identities, groups, apps, service logins, registry settings and tag rules.
 * It lives in one YAML file (`access.yaml`) in the ISV's app repository, so every change is a
 * commit. Keyed data is held in Maps (never plain objects), so a name such as `__proto__` is just
 * a key, and the file grammar rejects such names anyway.
 */
import type { Glob } from "./glob.js";

export const PRIVILEGES = ["puller", "pusher", "manager"] as const;
export type Privilege = (typeof PRIVILEGES)[number];

/** Lower-case names usable as one repository path component. */
export const NAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export const MAX_NAME_LENGTH = 64;

export function isPolicyName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

export interface User {
  readonly name: string;
  /** Optional second name for `users/<id>` (e.g. a numeric account id). */
  readonly id: string | undefined;
  /** `$scrypt$...` string from passwords.ts; undefined = cannot log in with a password. */
  readonly passwordHash: string | undefined;
  readonly privileges: ReadonlySet<Privilege>;
}

export interface Group {
  readonly name: string;
  readonly id: string | undefined;
  readonly members: ReadonlySet<string>;
}

export interface App {
  readonly name: string;
  readonly id: string | undefined;
  /** Groups whose members may pull `apps/<app>/...`. */
  readonly publicationGroups: readonly string[];
  /** Groups whose members may push (and pull) `apps/<app>/...`. */
  readonly responsibleGroups: readonly string[];
}

export interface ServiceLogin {
  readonly name: string;
  /** Name of the app whose `apps/<app>/...` repositories it may pull. */
  readonly app: string;
  /** `sha256:<hex>` of the token; the token itself is never stored. */
  readonly tokenHash: string;
  readonly privileges: ReadonlySet<Privilege>;
}

export interface TagRule {
  /** Position in the file's `tags` list, used to name the rule in explanations. */
  readonly index: number;
  readonly repository: Glob;
  readonly tag: Glob;
  /** Users and groups that may push tags matching the pattern. */
  readonly push: ReadonlySet<string>;
  /** Users and groups that may promote (re-point) tags matching the pattern. */
  readonly promote: ReadonlySet<string>;
}

/**
 * Who may promote into (and demote from) which lifecycle environment (docs/auth.md, Promotion
 * rules). Once the policy has any, a promotion or demotion no rule allows is refused.
 */
export interface PromotionRule {
  /** Position in the file's `promotions` list, used to name the rule in explanations. */
  readonly index: number;
  /** The environments the rule is about (promote: the target; demote: the one left); empty = every one. */
  readonly environments: ReadonlySet<string>;
  readonly repository: Glob;
  /** The rule covers a tag matching any of these. */
  readonly tags: readonly Glob[];
  /** Users and groups that may promote matching tags into the environments. */
  readonly promote: ReadonlySet<string>;
  /** Users and groups that may demote matching tags from the environments. */
  readonly demote: ReadonlySet<string>;
}

export type RegistryMode = "restricted" | "unrestricted";

export interface RegistrySettings {
  readonly mode: RegistryMode;
  /** Repository patterns anyone may pull without logging in. */
  readonly anonymousPull: readonly Glob[];
  /** Groups that may push (and pull) repositories outside users/, groups/ and apps/. */
  readonly responsibleGroups: readonly string[];
  /** Groups that may pull repositories outside users/, groups/ and apps/. */
  readonly publicationGroups: readonly string[];
}

export interface Policy {
  readonly registry: RegistrySettings;
  readonly users: ReadonlyMap<string, User>;
  readonly groups: ReadonlyMap<string, Group>;
  readonly apps: ReadonlyMap<string, App>;
  readonly services: ReadonlyMap<string, ServiceLogin>;
  readonly tags: readonly TagRule[];
  readonly promotions: readonly PromotionRule[];
}
