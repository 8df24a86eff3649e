/**
 * `raas user|group|app|service-login|access …`: manage access.yaml in the ISV's app repository.
 * Every change is one commit (pushed, so the registry deploys it); lists and checks only read.
 * Commands return data; no secret is ever part of it except a service-login token just created.
 */
import type { Action, Decision, Identity, Policy, Privilege } from "../auth/index.js";
import {
  ACTIONS,
  emptyPolicy,
  explain,
  explainEnvironment,
  hashPassword,
  newServiceToken,
  parsePolicy,
  POLICY_FILE,
  PRIVILEGES,
  serializePolicy,
} from "../auth/index.js";
import { SERVICE_TOKEN_PREFIX } from "../auth/passwords.js";
import * as edit from "../auth/policy-edit.js";
import { UsageError } from "../errors.js";
import type { AppRepository } from "../app/app-repository.js";

export type AuthRequest =
  | { kind: "user-add"; name: string; id?: string; privileges: Privilege[]; password?: string }
  | { kind: "user-passwd"; name: string; password: string }
  | { kind: "user-privileges"; name: string; privileges: Privilege[] }
  | { kind: "user-remove"; name: string }
  | { kind: "user-list" }
  | { kind: "group-add"; name: string; id?: string; members: string[] }
  | { kind: "group-member"; group: string; user: string; member: boolean }
  | { kind: "group-remove"; name: string }
  | { kind: "group-list" }
  | { kind: "app-set"; name: string; id?: string; publicationGroups: string[]; responsibleGroups: string[] }
  | { kind: "app-remove"; name: string }
  | { kind: "app-list" }
  | { kind: "service-login-create"; name: string; app: string }
  | { kind: "service-login-revoke"; name: string }
  | { kind: "access-check"; identity: string; action: string; reference: string };

export interface AuthResult {
  readonly auth: AuthRequest["kind"];
  /** The commit that recorded a change (undefined for reads, or when nothing changed). */
  readonly commit?: string | undefined;
  readonly users?: { name: string; id?: string; privileges: string[]; password: boolean; groups: string[] }[];
  readonly groups?: { name: string; id?: string; members: string[] }[];
  readonly apps?: {
    name: string;
    id?: string;
    publicationGroups: string[];
    responsibleGroups: string[];
    serviceLogins: string[];
  }[];
  /** A newly created service-login token: shown once, stored only as a hash. */
  readonly token?: string;
  readonly login?: string;
  readonly check?: {
    identity: string;
    action: string;
    repository: string;
    tag?: string;
    allow: boolean;
    rule: string;
    reason: string;
  };
}

export interface AuthDeps {
  readonly app: AppRepository;
  /** The lifecycle environment whose access.yaml this is (`--env`): promote and demote are checked for it. */
  readonly environment?: string;
  /** Password hashing (tests pass a cheaper cost). */
  readonly hashPassword?: (password: string) => Promise<string>;
}

async function current(app: AppRepository): Promise<Policy> {
  const text = await app.read(POLICY_FILE);
  return text === undefined ? emptyPolicy() : parsePolicy(text, POLICY_FILE);
}

async function change(
  app: AppRepository,
  message: string,
  apply: (policy: Policy) => Policy,
): Promise<string | undefined> {
  const { commit } = await app.update(message, async (files) => {
    const text = await files.read(POLICY_FILE);
    const policy = text === undefined ? emptyPolicy() : parsePolicy(text, POLICY_FILE);
    await files.write(POLICY_FILE, serializePolicy(apply(policy)));
  });
  return commit;
}

function checkPassword(password: string): void {
  if (password.length < 8) throw new UsageError("the password must have at least 8 characters");
  // Logins with a secret of this shape are checked as service-login tokens (see credentials.ts).
  if (password.startsWith(SERVICE_TOKEN_PREFIX)) {
    throw new UsageError(
      `a password must not start with ${SERVICE_TOKEN_PREFIX} (reserved for service-login tokens)`,
    );
  }
  if (Buffer.byteLength(password) > 1024) throw new UsageError("the password is longer than 1024 bytes");
}

export function parsePrivileges(text: string): Privilege[] {
  const list = text
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  for (const p of list) {
    if (!(PRIVILEGES as readonly string[]).includes(p)) {
      throw new UsageError(`unknown privilege "${p.slice(0, 40)}"`, {
        hint: `Use ${PRIVILEGES.join(", ")}.`,
      });
    }
  }
  return [...new Set(list)] as Privilege[];
}

/**
 * `user:alice`, `service:node-17`, `anonymous`, or a bare login name. A bare name is resolved
 * as the registry resolves a login (src/auth/credentials.ts): users and service logins share one
 * namespace, so `node-17` is the service login when the policy has one of that name, otherwise
 * a user (known or not: the engine then says it is not in the policy).
 */
export function parseIdentity(text: string, policy: Policy): Identity {
  if (text === "anonymous") return { kind: "anonymous" };
  if (text.startsWith("service:")) return { kind: "service", name: text.slice(8) };
  if (text.startsWith("user:")) return { kind: "user", name: text.slice(5) };
  return policy.services.has(text) ? { kind: "service", name: text } : { kind: "user", name: text };
}

/** `name[:tag]`: a colon after the last slash starts the tag. */
export function parseReference(text: string): { repository: string; tag?: string } {
  const slash = text.lastIndexOf("/");
  const colon = text.lastIndexOf(":");
  return colon > slash
    ? { repository: text.slice(0, colon), tag: text.slice(colon + 1) }
    : { repository: text };
}

export async function auth(request: AuthRequest, deps: AuthDeps): Promise<AuthResult> {
  const hash = deps.hashPassword ?? ((p: string) => hashPassword(p));
  const app = deps.app;
  const environment = deps.environment;
  const opt = <K extends string>(key: K, value: string | undefined) =>
    value === undefined ? {} : ({ [key]: value } as Record<K, string>);
  switch (request.kind) {
    case "user-add": {
      if (request.password !== undefined) checkPassword(request.password);
      const passwordHash = request.password === undefined ? undefined : await hash(request.password);
      const commit = await change(app, `access: add user ${request.name}`, (p) =>
        edit.addUser(p, {
          name: request.name,
          ...opt("id", request.id),
          ...opt("passwordHash", passwordHash),
          privileges: request.privileges,
        }),
      );
      return { auth: request.kind, commit };
    }
    case "user-passwd": {
      checkPassword(request.password);
      const passwordHash = await hash(request.password);
      return {
        auth: request.kind,
        commit: await change(app, `access: new password for ${request.name}`, (p) =>
          edit.setPassword(p, request.name, passwordHash),
        ),
      };
    }
    case "user-privileges":
      return {
        auth: request.kind,
        commit: await change(
          app,
          `access: privileges of ${request.name}: ${request.privileges.join(", ") || "none"}`,
          (p) => edit.setPrivileges(p, request.name, request.privileges),
        ),
      };
    case "user-remove":
      return {
        auth: request.kind,
        commit: await change(app, `access: remove user ${request.name}`, (p) =>
          edit.removeUser(p, request.name),
        ),
      };
    case "user-list": {
      const policy = await current(app);
      return {
        auth: request.kind,
        users: [...policy.users.values()].map((u) => ({
          name: u.name,
          ...opt("id", u.id),
          privileges: PRIVILEGES.filter((p) => u.privileges.has(p)),
          password: u.passwordHash !== undefined,
          groups: [...policy.groups.values()].filter((g) => g.members.has(u.name)).map((g) => g.name),
        })),
      };
    }
    case "group-add":
      return {
        auth: request.kind,
        commit: await change(app, `access: add group ${request.name}`, (p) =>
          edit.addGroup(p, { name: request.name, ...opt("id", request.id), members: request.members }),
        ),
      };
    case "group-member":
      return {
        auth: request.kind,
        commit: await change(
          app,
          `access: ${request.member ? "add" : "remove"} ${request.user} ${request.member ? "to" : "from"} group ${request.group}`,
          (p) => edit.setMembership(p, request.group, request.user, request.member),
        ),
      };
    case "group-remove":
      return {
        auth: request.kind,
        commit: await change(app, `access: remove group ${request.name}`, (p) =>
          edit.removeGroup(p, request.name),
        ),
      };
    case "group-list": {
      const policy = await current(app);
      return {
        auth: request.kind,
        groups: [...policy.groups.values()].map((g) => ({
          name: g.name,
          ...opt("id", g.id),
          members: [...g.members],
        })),
      };
    }
    case "app-set":
      return {
        auth: request.kind,
        commit: await change(app, `access: app ${request.name}`, (p) =>
          edit.setApp(p, {
            name: request.name,
            ...opt("id", request.id),
            publicationGroups: request.publicationGroups,
            responsibleGroups: request.responsibleGroups,
          }),
        ),
      };
    case "app-remove":
      return {
        auth: request.kind,
        commit: await change(app, `access: remove app ${request.name}`, (p) =>
          edit.removeApp(p, request.name),
        ),
      };
    case "app-list": {
      const policy = await current(app);
      return {
        auth: request.kind,
        apps: [...policy.apps.values()].map((a) => ({
          name: a.name,
          ...opt("id", a.id),
          publicationGroups: [...a.publicationGroups],
          responsibleGroups: [...a.responsibleGroups],
          serviceLogins: [...policy.services.values()].filter((s) => s.app === a.name).map((s) => s.name),
        })),
      };
    }
    case "service-login-create": {
      const { token, hash: tokenHash } = newServiceToken();
      const commit = await change(
        app,
        `access: add service login ${request.name} for app ${request.app}`,
        (p) => edit.addServiceLogin(p, { name: request.name, app: request.app, tokenHash }),
      );
      return { auth: request.kind, commit, login: request.name, token };
    }
    case "service-login-revoke":
      return {
        auth: request.kind,
        commit: await change(app, `access: revoke service login ${request.name}`, (p) =>
          edit.removeServiceLogin(p, request.name),
        ),
      };
    case "access-check": {
      if (!(ACTIONS as readonly string[]).includes(request.action) && request.action !== "demote") {
        throw new UsageError(`unknown action "${request.action.slice(0, 40)}"`, {
          hint: `Use ${ACTIONS.join(", ")} or demote.`,
        });
      }
      const policy = await current(app);
      const { repository, tag } = parseReference(request.reference);
      const identity = parseIdentity(request.identity, policy);
      // In an environment, promote and demote are about moving a tag into or out of it (promotions).
      const environmental =
        request.action === "demote" || (request.action === "promote" && environment !== undefined);
      if (environmental && (environment === undefined || tag === undefined)) {
        throw new UsageError(
          environment === undefined
            ? "demote is checked for a lifecycle environment: pass --env <env>"
            : `${request.action} is checked for a tag: <repository>:<tag>`,
        );
      }
      const decision: Decision =
        environmental && environment !== undefined && tag !== undefined
          ? explainEnvironment(
              policy,
              identity,
              request.action as "promote" | "demote",
              environment,
              repository,
              tag,
            )
          : explain(policy, identity, request.action as Action, repository, tag);
      return {
        auth: request.kind,
        check: {
          identity: request.identity,
          action: request.action,
          repository,
          ...opt("tag", tag),
          allow: decision.allow,
          rule: decision.rule,
          reason: decision.reason,
        },
      };
    }
  }
}
