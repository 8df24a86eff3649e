import { UserError, errorMessage } from "../errors.js";

/**
 * `https://user:token@host/x.git` -> `https://***@host/x.git`, so remotes can be named in
 * messages. Works on any text, since git repeats the URL in its own errors.
 */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, "$1***@");
}

/** A push refused because the remote moved on; the caller fetches, rebases and retries. */
export function isNonFastForward(err: unknown): boolean {
  return /non-fast-forward|\(fetch first\)|cannot lock ref|incorrect old value provided/i.test(
    errorMessage(err),
  );
}

interface Rule {
  pattern: RegExp;
  message: (remote: string) => string;
  hint: string;
  code: string;
}

// git prints these in English because every call runs with LC_ALL=C.
const RULES: Rule[] = [
  {
    pattern:
      /Authentication failed|could not read (Username|Password)|terminal prompts disabled|Permission denied \(publickey|HTTP Basic: Access denied|\b403\b/i,
    message: (remote) => `git authentication failed for ${remote}`,
    hint: "Check the credentials git uses for this remote (SSH key, credential helper or a token in the URL).",
    code: "GIT_AUTH",
  },
  {
    pattern: /Remote branch (\S+) not found|couldn't find remote ref/i,
    message: (remote) => `the branch does not exist in ${remote}`,
    hint: "Create the branch in the remote, or choose another one (for the config repo: --configenv).",
    code: "GIT_NO_BRANCH",
  },
  {
    pattern:
      /Could not resolve host|Connection refused|Connection timed out|unable to access|Could not read from remote repository|does not appear to be a git repository|repository .* (not found|does not exist)|Network is unreachable/i,
    message: (remote) => `cannot reach the git repository ${remote}`,
    hint: "Check the URL or path and that the git server is reachable from this machine.",
    code: "GIT_UNREACHABLE",
  },
  {
    pattern: /not a git repository/i,
    message: (remote) => `${remote} is not a git repository`,
    hint: "Remove the directory so raas can clone it again.",
    code: "GIT_NOT_A_REPO",
  },
];

/**
 * Turn a git failure into a UserError that names the remote (or directory) involved.
 * Unknown failures keep git's own message, which is still more useful than a stack.
 */
export function gitError(err: unknown, action: string, remote: string): UserError {
  if (err instanceof UserError) return err;
  const where = redactUrl(remote);
  const detail = redactUrl(lastLines(errorMessage(err)));
  for (const rule of RULES) {
    if (rule.pattern.test(detail)) {
      return new UserError(`${action}: ${rule.message(where)}\n  git said: ${detail}`, {
        hint: rule.hint,
        code: rule.code,
        cause: err,
      });
    }
  }
  return new UserError(`${action} (${where}) failed: ${detail}`, { code: "GIT_FAILED", cause: err });
}

function lastLines(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith("hint:"));
  return lines.slice(-4).join(" | ");
}
