/** The CLI edge of the access commands: read password files, then run the command logic. */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { AuthRequest, AuthResult } from "../commands/auth.js";
import type { AuthMode } from "../config/types.js";
import { auth, parsePrivileges } from "../commands/auth.js";
import type { AppRepository } from "../app/app-repository.js";
import { UserError } from "../errors.js";
import type { AuthCliRequest } from "./program-auth.js";

const MAX_PASSWORD_FILE = 4096;

async function readPassword(file: string, cwd: string): Promise<string> {
  const full = path.resolve(cwd, file);
  try {
    const info = await stat(full);
    if (info.isFile() && info.size > MAX_PASSWORD_FILE) {
      throw new UserError(`${file}: a password file must be smaller than ${MAX_PASSWORD_FILE} bytes`);
    }
    const text = (await readFile(full, "utf8")).slice(0, MAX_PASSWORD_FILE + 1);
    if (text.length > MAX_PASSWORD_FILE) {
      throw new UserError(`${file}: a password file must be smaller than ${MAX_PASSWORD_FILE} bytes`);
    }
    return text.replace(/\r?\n$/, "");
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${file}: cannot read the password file`, {
      cause: err,
      hint: "Use --password-file /dev/stdin to read standard input.",
    });
  }
}

export async function runAuthCommand(
  request: AuthCliRequest,
  app: AppRepository,
  cwd: string,
  /** The lifecycle environment (`--env`), for promote and demote checks. */
  environment?: string,
): Promise<AuthResult> {
  let resolved: AuthRequest;
  switch (request.kind) {
    case "user-add": {
      const { passwordFile, privileges, ...rest } = request;
      resolved = {
        ...rest,
        privileges: parsePrivileges(privileges),
        ...(passwordFile === undefined ? {} : { password: await readPassword(passwordFile, cwd) }),
      };
      break;
    }
    case "user-passwd":
      resolved = {
        kind: request.kind,
        name: request.name,
        password: await readPassword(request.passwordFile, cwd),
      };
      break;
    case "user-privileges":
      resolved = { kind: request.kind, name: request.name, privileges: parsePrivileges(request.privileges) };
      break;
    default:
      resolved = request;
  }
  return auth(resolved, { app, ...(environment === undefined ? {} : { environment }) });
}

/**
 * A change to access.yaml while the registry does not enforce it (`[auth] mode` off or
 * external): the change is committed, but a user would believe logins are now required.
 * The same for `access check`, whose verdict is access.yaml's, not the registry's of today.
 * Returns the warning to give, or undefined when access.yaml is in force or nothing changes.
 */
export function accessNotInForce(request: AuthCliRequest, mode: AuthMode, isv: string): string | undefined {
  if (mode === "local" || /-list$/.test(request.kind)) return undefined;
  const why =
    mode === "off"
      ? "does not ask for logins ([auth] mode is off)"
      : "takes its tokens from an external token server ([auth] mode is external), not from access.yaml";
  if (request.kind === "access-check") {
    // The verdict is what access.yaml says; the registry answering today does not ask it.
    return (
      `this is what access.yaml of ${isv} decides, but its registry ${why}: today every ` +
      `${mode === "off" ? "client may pull and nobody is asked to log in" : "request is judged by the external tokens"}. ` +
      `Set \`mode = local\` under [auth] in raas.cfg (or \`auth = local\` in [${isv}], or RAAS_AUTH=local), ` +
      `then run \`raas setup ${isv}\` (docs/auth.md).`
    );
  }
  const what =
    request.kind === "user-add" ? `user ${request.name} is added to` : "the change is committed to";
  return (
    `${what} access.yaml of ${isv}, but its registry ${why}: it takes effect only once auth is ` +
    `local. Set \`mode = local\` under [auth] in raas.cfg (or \`auth = local\` in [${isv}], or RAAS_AUTH=local), ` +
    `then run \`raas setup ${isv}\` (docs/auth.md).`
  );
}
