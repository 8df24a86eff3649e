/**
 * The decision engine: pure, deny by default, first match wins. `explain` walks the rules below in
 * this order and returns the first one that decides, with its stable id. docs/auth.md has the same
 * list with examples.
 *
 *  1. name-invalid / tag-invalid       malformed repository or tag: deny
 *  2. identity-unknown                 a login no longer in the policy: deny
 *  3. service-no-users-groups          services never touch users/ or groups/: deny
 *  4. anonymous-pull                   pull of a registry.anonymousPull pattern: allow (anyone)
 *  5. service-app-pull                 a service with `puller` pulls apps/<its app>/...: allow
 *     service-default-deny             anything else a service asks: deny
 *  6. anonymous-default-deny           nothing else without a login: deny
 *  7. own-namespace                    users/<name|id>/... for that user, any action, no privilege needed: allow
 *     users-owner-only                 users/<someone else>: deny
 *  8. privilege-required               pull needs puller, push/promote need pusher, delete needs manager
 *  9. groups-member / groups-members-only / groups-unknown
 * 10. apps-responsible / apps-publication / apps-unrestricted / apps-denied / apps-unknown
 * 11. registry-responsible / registry-publication / registry-unrestricted / default-deny
 *
 * Tag rules (`tags[i]`) only narrow: when rules 9-11 allow a push, promote or delete of a tag, the
 * first tag rule whose repository and tag patterns both match decides instead (allow if the
 * identity is listed directly or through a group, deny otherwise). No tag rule matching = no
 * narrowing. Own namespaces (rule 7) are not subject to tag rules.
 */
import { isRepositoryName, isTag } from "../image/names.js";
import { globMatches } from "./glob.js";
import type { Policy, Privilege, User } from "./policy.js";

export const ACTIONS = ["pull", "push", "delete", "promote"] as const;
export type Action = (typeof ACTIONS)[number];

export type Identity =
  | { readonly kind: "anonymous" }
  | { readonly kind: "user"; readonly name: string }
  | { readonly kind: "service"; readonly name: string };

export const ANONYMOUS: Identity = { kind: "anonymous" };

export interface Decision {
  readonly allow: boolean;
  /** Stable id of the deciding rule, e.g. "own-namespace" or "tags[2]". */
  readonly rule: string;
  /** One sentence a person can read. */
  readonly reason: string;
}

const allow = (rule: string, reason: string): Decision => ({ allow: true, rule, reason });
const deny = (rule: string, reason: string): Decision => ({ allow: false, rule, reason });

const NEEDED: Record<Action, Privilege> = {
  pull: "puller",
  push: "pusher",
  promote: "pusher",
  delete: "manager",
};

function describe(identity: Identity): string {
  return identity.kind === "anonymous" ? "anonymous" : `${identity.kind} "${identity.name}"`;
}

export function explain(
  policy: Policy,
  identity: Identity,
  action: Action,
  repository: string,
  tag?: string,
): Decision {
  if (!isRepositoryName(repository)) return deny("name-invalid", "the repository name is not valid");
  if (tag !== undefined && !isTag(tag)) return deny("tag-invalid", "the tag is not valid");
  const parts = repository.split("/");
  const prefix = parts[0] as string;
  const owner = parts[1];
  const who = describe(identity);

  if (identity.kind === "user" && !policy.users.has(identity.name)) {
    return deny("identity-unknown", `${who} is not in the policy`);
  }
  if (identity.kind === "service") {
    const service = policy.services.get(identity.name);
    if (service === undefined) return deny("identity-unknown", `${who} is not in the policy`);
    if (prefix === "users" || prefix === "groups") {
      return deny("service-no-users-groups", `services never access ${prefix}/ repositories`);
    }
  }
  if (action === "pull") {
    const pattern = policy.registry.anonymousPull.find((glob) => globMatches(glob, repository));
    if (pattern !== undefined) return allow("anonymous-pull", `anyone may pull ${pattern.source}`);
  }
  if (identity.kind === "service") {
    const service = policy.services.get(identity.name)!;
    const app = policy.apps.get(service.app);
    if (
      action === "pull" &&
      prefix === "apps" &&
      app !== undefined &&
      (owner === app.name || owner === app.id) &&
      service.privileges.has("puller")
    ) {
      return allow("service-app-pull", `${who} pulls the repositories of app "${app.name}"`);
    }
    return deny("service-default-deny", `${who} may only pull apps/${service.app}/...`);
  }
  if (identity.kind === "anonymous") {
    return deny("anonymous-default-deny", "this repository is not anonymously pullable; log in");
  }

  const user = policy.users.get(identity.name)!;
  if (prefix === "users") {
    if (owner !== undefined && (owner === user.name || owner === user.id)) {
      return allow("own-namespace", `users/${owner}/... belongs to ${who}`);
    }
    return deny("users-owner-only", "users/<name> repositories belong to that user alone");
  }
  const needed = NEEDED[action];
  if (!user.privileges.has(needed)) {
    return deny("privilege-required", `${action} needs the ${needed} privilege, which ${who} lacks`);
  }
  const decision = namespaceDecision(policy, user, action, prefix, owner, who);
  if (!decision.allow || tag === undefined || action === "pull") return decision;
  return tagDecision(policy, user, action, repository, tag, who) ?? decision;
}

function isMember(policy: Policy, user: User, groupName: string): boolean {
  return policy.groups.get(groupName)?.members.has(user.name) === true;
}

function inAny(policy: Policy, user: User, groups: readonly string[]): string | undefined {
  return groups.find((g) => isMember(policy, user, g));
}

function namespaceDecision(
  policy: Policy,
  user: User,
  action: Action,
  prefix: string,
  owner: string | undefined,
  who: string,
): Decision {
  const unrestricted = policy.registry.mode === "unrestricted";
  if (prefix === "groups") {
    const group = owner === undefined ? undefined : findByNameOrId(policy.groups, owner);
    if (group === undefined) return deny("groups-unknown", `there is no group "${owner ?? ""}"`);
    if (group.members.has(user.name)) {
      return allow("groups-member", `${who} is a member of group "${group.name}"`);
    }
    return deny("groups-members-only", `groups/${owner}/... is for members of group "${group.name}" only`);
  }
  if (prefix === "apps") {
    const app = owner === undefined ? undefined : findByNameOrId(policy.apps, owner);
    if (app === undefined) return deny("apps-unknown", `there is no app "${owner ?? ""}"`);
    const responsible = inAny(policy, user, app.responsibleGroups);
    if (responsible !== undefined) {
      return allow("apps-responsible", `${who} is in "${responsible}", responsible for app "${app.name}"`);
    }
    if (action === "pull") {
      const publication = inAny(policy, user, app.publicationGroups);
      if (publication !== undefined) {
        return allow("apps-publication", `app "${app.name}" is published to "${publication}"`);
      }
      if (unrestricted) return allow("apps-unrestricted", "the registry is unrestricted: any login may pull");
    }
    return deny(
      "apps-denied",
      `${who} is not in a ${action === "pull" ? "publication or " : ""}responsible group of app "${app.name}"`,
    );
  }
  const responsible = inAny(policy, user, policy.registry.responsibleGroups);
  if (responsible !== undefined) {
    return allow("registry-responsible", `${who} is in "${responsible}", responsible for the registry`);
  }
  if (action === "pull") {
    const publication = inAny(policy, user, policy.registry.publicationGroups);
    if (publication !== undefined) {
      return allow("registry-publication", `the registry is published to "${publication}"`);
    }
    if (unrestricted) {
      return allow("registry-unrestricted", "the registry is unrestricted: any login may pull");
    }
  }
  return deny("default-deny", "no rule allows this");
}

function findByNameOrId<T extends { name: string; id: string | undefined }>(
  map: ReadonlyMap<string, T>,
  key: string,
): T | undefined {
  const byName = map.get(key);
  if (byName !== undefined) return byName;
  for (const item of map.values()) if (item.id === key) return item;
  return undefined;
}

function tagDecision(
  policy: Policy,
  user: User,
  action: Action,
  repository: string,
  tag: string,
  who: string,
): Decision | undefined {
  const rule = policy.tags.find((t) => globMatches(t.repository, repository) && globMatches(t.tag, tag));
  if (rule === undefined) return undefined;
  const id = `tags[${rule.index}]`;
  const subjects = action === "promote" ? rule.promote : rule.push;
  const verb = action === "promote" ? "promote" : "push";
  for (const subject of subjects) {
    if (subject === user.name || isMember(policy, user, subject)) {
      return allow(
        id,
        `${who} may ${verb} tags ${rule.tag.source} in ${rule.repository.source} (as "${subject}")`,
      );
    }
  }
  return deny(
    id,
    `only ${[...subjects].join(", ") || "nobody"} may ${verb} tags ${rule.tag.source} in ${rule.repository.source}`,
  );
}

/** Which of the actions the identity may do on the repository (no tag: tag rules apply later). */
export function grantedActions(
  policy: Policy,
  identity: Identity,
  repository: string,
  actions: Iterable<Action>,
): Action[] {
  const granted: Action[] = [];
  for (const action of actions) if (explain(policy, identity, action, repository).allow) granted.push(action);
  return granted;
}

/** Moving a tag into (`promote`) or out of (`demote`) a lifecycle environment. */
export type EnvironmentAction = "promote" | "demote";

/**
 * May the identity promote `repository:tag` into `environment` (or demote it from there)?
 * First the repository rules above, as for `promote` (pusher, the namespace rules, tag rules'
 * `promote` lists); both actions need what a promotion needs. Then, once the policy has any
 * `promotions`, the first one whose environments, repository pattern and one of whose tag
 * patterns match decides (`promotions[i]`), and none matching denies (`promotions-default-deny`).
 * Promotion rules narrow every namespace, own ones included: an environment such as prod is
 * guarded for everyone. Without `promotions` the repository decision stands.
 */
export function explainEnvironment(
  policy: Policy,
  identity: Identity,
  action: EnvironmentAction,
  environment: string,
  repository: string,
  tag: string,
): Decision {
  const base = explain(policy, identity, "promote", repository, tag);
  if (!base.allow || policy.promotions.length === 0 || identity.kind !== "user") return base;
  const user = policy.users.get(identity.name)!;
  const who = describe(identity);
  const direction = action === "promote" ? `into ${environment}` : `from ${environment}`;
  const rule = policy.promotions.find(
    (p) =>
      (p.environments.size === 0 || p.environments.has(environment)) &&
      globMatches(p.repository, repository) &&
      p.tags.some((t) => globMatches(t, tag)),
  );
  if (rule === undefined) {
    return deny(
      "promotions-default-deny",
      `no promotion rule covers ${action === "promote" ? "promoting" : "demoting"} ${repository}:${tag} ${direction}`,
    );
  }
  const id = `promotions[${rule.index}]`;
  const subjects = action === "promote" ? rule.promote : rule.demote;
  for (const subject of subjects) {
    if (subject === user.name || isMember(policy, user, subject)) {
      return allow(id, `${who} may ${action} ${repository}:${tag} ${direction} (as "${subject}")`);
    }
  }
  return deny(
    id,
    `only ${[...subjects].join(", ") || "nobody"} may ${action} ${rule.tags.map((t) => t.source).join(", ")} of ${rule.repository.source} ${direction}`,
  );
}
