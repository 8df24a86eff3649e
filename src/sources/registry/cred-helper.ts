import { exchange } from "../../adapters/exec.js";
import { UserError } from "../../errors.js";

/**
 * Docker credential helpers (`credHelpers`, `credsStore` in docker's config.json, `credHelpers`
 * in containers' auth.json). The protocol (docker-credential-helpers): run
 * `docker-credential-<name> get`, write the server URL to stdin, read
 * `{"ServerURL","Username","Secret"}` from stdout. A helper that has nothing for the server
 * exits non-zero and prints "credentials not found in native keychain". A Username of
 * `<token>` means Secret is an identity (refresh) token, not a password.
 */

export interface HelperCredentials {
  username: string;
  secret: string;
  /** Secret is an identity token to trade for access tokens (refresh_token grant). */
  identityToken: boolean;
}

export interface HelperOptions {
  /** How long a helper may take; some ask for a passphrase, so not too short (default 30 s). */
  timeoutMs?: number;
}

const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A reply is three short strings; anything larger is not a credential helper speaking. */
const OUTPUT_LIMIT = 64 * 1024;
const NOT_FOUND = /credentials not found/i;
const IDENTITY_TOKEN_USERNAME = "<token>";

/** `docker-credential-<name>`; the name comes from a file, so it may not leave PATH lookup. */
export function helperProgram(name: string, where: string): string {
  if (!HELPER_NAME.test(name)) {
    throw new UserError(
      `${where}: ${JSON.stringify(name.slice(0, 100))} is not a credential helper name (letters, digits, ".", "_", "-")`,
      { hint: "A helper named x runs the program docker-credential-x found on PATH." },
    );
  }
  return `docker-credential-${name}`;
}

/** A helper's message, shortened and stripped of control characters before it is shown. */
function excerpt(text: string): string {
  const line = text.trim().split("\n")[0] ?? "";
  return line.replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
}

/**
 * Asks helper `name` (configured in `where`) for the credentials of `serverUrl`.
 * undefined means the helper has none; every other failure is a UserError naming the helper
 * and the registry. The secret never appears in an error.
 */
export async function askHelper(
  name: string,
  serverUrl: string,
  where: string,
  env: NodeJS.ProcessEnv,
  options: HelperOptions = {},
): Promise<HelperCredentials | undefined> {
  const program = helperProgram(name, where);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const fail = (problem: string, hint?: string): never => {
    throw new UserError(`credential helper ${program} (${where}) for ${serverUrl}: ${problem}`, {
      hint:
        hint ??
        `Run \`echo ${serverUrl} | ${program} get\` to see what it answers, or remove the entry from ${where}.`,
      code: "CREDENTIAL_HELPER",
    });
  };
  const result = await exchange(program, ["get"], {
    input: serverUrl,
    env,
    timeoutMs,
    maxBytes: OUTPUT_LIMIT,
  });
  if (result.notFound) {
    fail(
      "the program is not installed (not found on PATH)",
      `Install ${program}, or remove the helper from ${where}.`,
    );
  }
  if (result.timedOut) fail(`no answer within ${timeoutMs} ms; it was stopped`);
  if (result.tooLarge) fail(`it printed more than ${OUTPUT_LIMIT} bytes; it was stopped`);
  if (result.exitCode !== 0) {
    const message = result.stdout.trim() !== "" ? result.stdout : result.stderr;
    if (NOT_FOUND.test(message)) return undefined;
    const said = excerpt(message);
    fail(
      result.exitCode === undefined
        ? "it was killed before answering"
        : `it exited with ${result.exitCode}${said === "" ? "" : ` (${said})`}`,
    );
  }
  let reply: unknown;
  try {
    reply = JSON.parse(result.stdout);
  } catch {
    // The output is not quoted: a broken helper may well have printed the secret.
    return fail("its answer is not the JSON object the credential helper protocol specifies");
  }
  const { Username: username, Secret: secret } = (reply ?? {}) as { Username?: unknown; Secret?: unknown };
  if (typeof username !== "string" || typeof secret !== "string") {
    return fail("its answer lacks the Username and Secret strings the protocol specifies");
  }
  if (secret === "") return undefined;
  if (/[\r\n\0]/.test(username) || /[\r\n\0]/.test(secret) || secret.length > 16 * 1024) {
    return fail("its answer holds a user name or secret raas cannot send (line breaks, NUL, over 16 KiB)");
  }
  if (username === IDENTITY_TOKEN_USERNAME) return { username: "", secret, identityToken: true };
  return { username, secret, identityToken: false };
}
