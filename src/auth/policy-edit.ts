/**
 * Edits to the policy, as pure functions: each returns a new Policy, re-validated as a whole (the
 * same checks as reading the file), or throws a UserError saying what is wrong.
 */
import { UserError } from "../errors.js";
import type { App, Group, Policy, Privilege, ServiceLogin, User } from "./policy.js";
import { isPolicyName } from "./policy.js";
import { parsePolicy, POLICY_FILE, serializePolicy } from "./policy-file.js";

function validated(policy: Policy): Policy {
  return parsePolicy(serializePolicy(policy), POLICY_FILE);
}

function checkName(kind: string, name: string): void {
  if (!isPolicyName(name)) {
    throw new UserError(`${kind} name "${name.slice(0, 80)}" is not valid`, {
      hint: "Use lower-case letters and digits separated by . _ or -, at most 64 characters.",
      code: "BAD_NAME",
    });
  }
}

function missing(kind: string, name: string): UserError {
  return new UserError(`there is no ${kind} "${name}"`, { code: "NOT_FOUND" });
}

function exists(kind: string, name: string): UserError {
  return new UserError(`${kind} "${name}" already exists`, { code: "EXISTS" });
}

const withMap = <T>(map: ReadonlyMap<string, T>, key: string, value: T | undefined): Map<string, T> => {
  const next = new Map(map);
  if (value === undefined) next.delete(key);
  else next.set(key, value);
  return next;
};

export function addUser(
  policy: Policy,
  user: { name: string; id?: string; passwordHash?: string; privileges: readonly Privilege[] },
): Policy {
  checkName("user", user.name);
  if (user.id !== undefined) checkName("user id", user.id);
  if (policy.users.has(user.name) || policy.services.has(user.name)) throw exists("login", user.name);
  const entry: User = {
    name: user.name,
    id: user.id,
    passwordHash: user.passwordHash,
    privileges: new Set(user.privileges),
  };
  return validated({ ...policy, users: withMap(policy.users, user.name, entry) });
}

export function setPassword(policy: Policy, name: string, passwordHash: string): Policy {
  const user = policy.users.get(name);
  if (user === undefined) throw missing("user", name);
  return validated({ ...policy, users: withMap(policy.users, name, { ...user, passwordHash }) });
}

export function setPrivileges(policy: Policy, name: string, privileges: readonly Privilege[]): Policy {
  const user = policy.users.get(name);
  if (user === undefined) throw missing("user", name);
  return validated({
    ...policy,
    users: withMap(policy.users, name, { ...user, privileges: new Set(privileges) }),
  });
}

/** Removes the user and their group memberships; refuses while a tag rule names them. */
export function removeUser(policy: Policy, name: string): Policy {
  if (!policy.users.has(name)) throw missing("user", name);
  const rules = policy.tags
    .filter((t) => t.push.has(name) || t.promote.has(name))
    .map((t) => `tags[${t.index}]`);
  if (rules.length > 0) {
    throw new UserError(`user "${name}" is named in ${rules.join(", ")}`, {
      hint: "Edit those tag rules first.",
      code: "IN_USE",
    });
  }
  const groups = new Map<string, Group>();
  for (const [n, g] of policy.groups) {
    const members = new Set(g.members);
    members.delete(name);
    groups.set(n, { ...g, members });
  }
  return validated({ ...policy, users: withMap(policy.users, name, undefined), groups });
}

export function addGroup(
  policy: Policy,
  group: { name: string; id?: string; members: readonly string[] },
): Policy {
  checkName("group", group.name);
  if (group.id !== undefined) checkName("group id", group.id);
  if (policy.groups.has(group.name)) throw exists("group", group.name);
  for (const m of group.members) if (!policy.users.has(m)) throw missing("user", m);
  return validated({
    ...policy,
    groups: withMap(policy.groups, group.name, {
      name: group.name,
      id: group.id,
      members: new Set(group.members),
    }),
  });
}

export function setMembership(policy: Policy, groupName: string, user: string, member: boolean): Policy {
  const group = policy.groups.get(groupName);
  if (group === undefined) throw missing("group", groupName);
  if (!policy.users.has(user)) throw missing("user", user);
  const members = new Set(group.members);
  if (member) members.add(user);
  else members.delete(user);
  return validated({ ...policy, groups: withMap(policy.groups, groupName, { ...group, members }) });
}

/** Refuses while an app, the registry settings or a tag rule refers to the group. */
export function removeGroup(policy: Policy, name: string): Policy {
  if (!policy.groups.has(name)) throw missing("group", name);
  const users: string[] = [];
  for (const a of policy.apps.values()) {
    if (a.publicationGroups.includes(name) || a.responsibleGroups.includes(name)) {
      users.push(`apps.${a.name}`);
    }
  }
  if (policy.registry.publicationGroups.includes(name) || policy.registry.responsibleGroups.includes(name)) {
    users.push("registry");
  }
  for (const t of policy.tags) if (t.push.has(name) || t.promote.has(name)) users.push(`tags[${t.index}]`);
  if (users.length > 0) {
    throw new UserError(`group "${name}" is used by ${users.join(", ")}`, {
      hint: "Remove those references first.",
      code: "IN_USE",
    });
  }
  return validated({ ...policy, groups: withMap(policy.groups, name, undefined) });
}

export function setApp(
  policy: Policy,
  app: {
    name: string;
    id?: string;
    publicationGroups: readonly string[];
    responsibleGroups: readonly string[];
  },
): Policy {
  checkName("app", app.name);
  if (app.id !== undefined) checkName("app id", app.id);
  for (const g of [...app.publicationGroups, ...app.responsibleGroups]) {
    if (!policy.groups.has(g)) throw missing("group", g);
  }
  const entry: App = {
    name: app.name,
    id: app.id,
    publicationGroups: [...app.publicationGroups],
    responsibleGroups: [...app.responsibleGroups],
  };
  return validated({ ...policy, apps: withMap(policy.apps, app.name, entry) });
}

export function removeApp(policy: Policy, name: string): Policy {
  if (!policy.apps.has(name)) throw missing("app", name);
  const services = [...policy.services.values()].filter((s) => s.app === name).map((s) => s.name);
  if (services.length > 0) {
    throw new UserError(`app "${name}" has service logins: ${services.join(", ")}`, {
      hint: "Revoke them first (raas service-login revoke).",
      code: "IN_USE",
    });
  }
  return validated({ ...policy, apps: withMap(policy.apps, name, undefined) });
}

export function addServiceLogin(
  policy: Policy,
  service: { name: string; app: string; tokenHash: string },
): Policy {
  checkName("service login", service.name);
  if (policy.services.has(service.name) || policy.users.has(service.name)) {
    throw exists("login", service.name);
  }
  if (!policy.apps.has(service.app)) throw missing("app", service.app);
  const entry: ServiceLogin = { ...service, privileges: new Set<Privilege>(["puller"]) };
  return validated({ ...policy, services: withMap(policy.services, service.name, entry) });
}

export function removeServiceLogin(policy: Policy, name: string): Policy {
  if (!policy.services.has(name)) throw missing("service login", name);
  return validated({ ...policy, services: withMap(policy.services, name, undefined) });
}
