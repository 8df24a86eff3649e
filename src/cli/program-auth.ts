/**
 * Commander definitions for the access commands: `raas user|group|app|service-login|access`.
 * Like program.ts: flags, help and examples only; each action hands a typed invocation to `run`.
 * Passwords are never command-line arguments (they would show in `ps` and shell history): they
 * come from a file (`--password-file /dev/stdin` reads standard input).
 */
import type { Command } from "commander";
import type { AuthRequest } from "../commands/auth.js";
import type { GlobalOptions } from "./program.js";

/**
 * The command-line form of an access request: privileges as written and passwords as a file to
 * read; every other request is exactly what the command takes.
 */
export type AuthCliRequest =
  | { kind: "user-add"; name: string; id?: string; privileges: string; passwordFile?: string }
  | { kind: "user-passwd"; name: string; passwordFile: string }
  | { kind: "user-privileges"; name: string; privileges: string }
  | Exclude<AuthRequest, { kind: "user-add" | "user-passwd" | "user-privileges" }>;

export interface AuthInvocation {
  command: "auth";
  isv: string;
  request: AuthCliRequest;
}

type Run = (invocation: AuthInvocation, globals: GlobalOptions) => Promise<void>;

const collect = (value: string, previous: string[]): string[] => [...previous, value];
const idOpt = (id: string | undefined) => (id === undefined ? {} : { id });

export function addAuthCommands(program: Command, run: Run): void {
  const go = (cmd: Command, isv: string, request: AuthCliRequest) =>
    run({ command: "auth", isv, request }, cmd.optsWithGlobals<GlobalOptions>());

  const user = program
    .command("user")
    .summary("manage registry users (access.yaml in the app repository)")
    .description(
      "Users log in to the registry with `docker|podman|skopeo login`. Every change is a commit. See docs/auth.md.",
    );
  user
    .command("add")
    .description("add a user (a password is read from a file; without one the user cannot log in yet)")
    .argument("<isv>", "ISV name")
    .argument("<name>", "login name (lower case; also the users/<name>/ namespace)")
    .option("--id <id>", "second name for users/<id>/ (e.g. an account number)")
    .option("--privileges <list>", "comma-separated: puller, pusher, manager", "puller")
    .option("--password-file <file>", "read the password from this file (/dev/stdin for standard input)")
    .addHelpText(
      "after",
      "\nExample:\n  $ printf '%s' \"$PW\" | raas user add acme alice --privileges puller,pusher --password-file /dev/stdin",
    )
    .action(
      (
        isv: string,
        name: string,
        o: { id?: string; privileges: string; passwordFile?: string },
        cmd: Command,
      ) =>
        go(cmd, isv, {
          kind: "user-add",
          name,
          ...idOpt(o.id),
          privileges: o.privileges,
          ...(o.passwordFile === undefined ? {} : { passwordFile: o.passwordFile }),
        }),
    );
  user
    .command("passwd")
    .description("set a user's password (refresh tokens issued before stop working)")
    .argument("<isv>", "ISV name")
    .argument("<name>", "user")
    .requiredOption(
      "--password-file <file>",
      "read the password from this file (/dev/stdin for standard input)",
    )
    .action((isv: string, name: string, o: { passwordFile: string }, cmd: Command) =>
      go(cmd, isv, { kind: "user-passwd", name, passwordFile: o.passwordFile }),
    );
  user
    .command("privileges")
    .description("set a user's privileges")
    .argument("<isv>", "ISV name")
    .argument("<name>", "user")
    .argument("<list>", "comma-separated: puller, pusher, manager (empty string for none)")
    .action((isv: string, name: string, privileges: string, _o: unknown, cmd: Command) =>
      go(cmd, isv, { kind: "user-privileges", name, privileges }),
    );
  user
    .command("remove")
    .description("remove a user and their group memberships")
    .argument("<isv>", "ISV name")
    .argument("<name>", "user")
    .action((isv: string, name: string, _o: unknown, cmd: Command) =>
      go(cmd, isv, { kind: "user-remove", name }),
    );
  user
    .command("list")
    .description("list users, their privileges and groups (never their password hashes)")
    .argument("<isv>", "ISV name")
    .action((isv: string, _o: unknown, cmd: Command) => go(cmd, isv, { kind: "user-list" }));

  const group = program.command("group").summary("manage groups of users");
  group
    .command("add")
    .description("add a group (members with --member, repeatable; each must be a user)")
    .argument("<isv>", "ISV name")
    .argument("<name>", "group name (also the groups/<name>/ namespace)")
    .option("--id <id>", "second name for groups/<id>/")
    .option("--member <user>", "a member (repeatable)", collect, [])
    .action((isv: string, name: string, o: { id?: string; member: string[] }, cmd: Command) =>
      go(cmd, isv, { kind: "group-add", name, ...idOpt(o.id), members: o.member }),
    );
  for (const [sub, member, description] of [
    ["add-member", true, "add a user to a group"],
    ["remove-member", false, "remove a user from a group"],
  ] as const) {
    group
      .command(sub)
      .description(description)
      .argument("<isv>", "ISV name")
      .argument("<group>", "group")
      .argument("<user>", "user")
      .action((isv: string, g: string, u: string, _o: unknown, cmd: Command) =>
        go(cmd, isv, { kind: "group-member", group: g, user: u, member }),
      );
  }
  group
    .command("remove")
    .description("remove a group (refused while an app, the registry or a tag rule uses it)")
    .argument("<isv>", "ISV name")
    .argument("<name>", "group")
    .action((isv: string, name: string, _o: unknown, cmd: Command) =>
      go(cmd, isv, { kind: "group-remove", name }),
    );
  group
    .command("list")
    .description("list groups and their members")
    .argument("<isv>", "ISV name")
    .action((isv: string, _o: unknown, cmd: Command) => go(cmd, isv, { kind: "group-list" }));

  const app = program.command("app").summary("manage apps: who may pull and push apps/<name>/");
  app
    .command("set")
    .description("create or replace an app's groups")
    .argument("<isv>", "ISV name")
    .argument("<name>", "app name (the apps/<name>/ namespace)")
    .option("--id <id>", "second name for apps/<id>/ (the app code)")
    .option("--publication <group>", "a group that may pull (repeatable)", collect, [])
    .option("--responsible <group>", "a group that may push and pull (repeatable)", collect, [])
    .action(
      (
        isv: string,
        name: string,
        o: { id?: string; publication: string[]; responsible: string[] },
        cmd: Command,
      ) =>
        go(cmd, isv, {
          kind: "app-set",
          name,
          ...idOpt(o.id),
          publicationGroups: o.publication,
          responsibleGroups: o.responsible,
        }),
    );
  app
    .command("remove")
    .description("remove an app (refused while it has service logins: revoke them first)")
    .argument("<isv>", "ISV name")
    .argument("<name>", "app")
    .action((isv: string, name: string, _o: unknown, cmd: Command) =>
      go(cmd, isv, { kind: "app-remove", name }),
    );
  app
    .command("list")
    .description("list apps, their publication and responsible groups, and their service logins")
    .argument("<isv>", "ISV name")
    .action((isv: string, _o: unknown, cmd: Command) => go(cmd, isv, { kind: "app-list" }));

  const service = program
    .command("service-login")
    .summary("logins for nodes and services: pull apps/<app>/ only");
  service
    .command("create")
    .description("create a service login; its token is printed once and stored only as a hash")
    .argument("<isv>", "ISV name")
    .argument("<name>", "login name")
    .requiredOption("--app <app>", "the app whose repositories it may pull")
    .action((isv: string, name: string, o: { app: string }, cmd: Command) =>
      go(cmd, isv, { kind: "service-login-create", name, app: o.app }),
    );
  service
    .command("revoke")
    .description("revoke a service login: its token stops logging in once the registry has the commit")
    .argument("<isv>", "ISV name")
    .argument("<name>", "login name")
    .action((isv: string, name: string, _o: unknown, cmd: Command) =>
      go(cmd, isv, { kind: "service-login-revoke", name }),
    );

  program
    .command("access")
    .summary("explain access decisions")
    .command("check")
    .description("say whether an identity may do an action, and which rule decided")
    .argument("<isv>", "ISV name")
    .argument(
      "<identity>",
      "a login name (user or service login, as the registry resolves it), user:<name>, service:<name>, or anonymous",
    )
    .argument(
      "<action>",
      "pull, push, promote, delete, or demote (with --env: promote into / demote from it)",
    )
    .argument("<repository>", "repository[:tag]")
    .addHelpText(
      "after",
      "\nExit status: 0 ALLOW, 3 DENY, 1 error, 2 usage error.\n" +
        "\nExample:\n  $ raas access check acme alice push users/bob/testimage:v1.0",
    )
    .action((isv: string, identity: string, action: string, reference: string, _o: unknown, cmd: Command) =>
      go(cmd, isv, { kind: "access-check", identity, action, reference }),
    );
}
