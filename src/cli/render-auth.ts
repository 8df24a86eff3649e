/** Text output of the access commands (--json prints the result data as it is). */
import type { AuthResult } from "../commands/auth.js";

interface Out {
  write(text: string): void;
}

export function renderAuth(result: AuthResult, out: Out): void {
  if (result.check !== undefined) {
    const c = result.check;
    out.write(
      `${c.allow ? "ALLOW" : "DENY"}  ${c.identity} ${c.action} ${c.repository}${c.tag === undefined ? "" : `:${c.tag}`}\n`,
    );
    out.write(`  rule    ${c.rule}\n  reason  ${c.reason}\n`);
    return;
  }
  if (result.users !== undefined) {
    if (result.users.length === 0) out.write("no users\n");
    for (const u of result.users) {
      out.write(
        `${u.name}${u.id === undefined ? "" : ` (id ${u.id})`}  privileges: ${u.privileges.join(", ") || "none"}` +
          `  groups: ${u.groups.join(", ") || "none"}${u.password ? "" : "  (no password)"}\n`,
      );
    }
    return;
  }
  if (result.groups !== undefined) {
    if (result.groups.length === 0) out.write("no groups\n");
    for (const g of result.groups) {
      out.write(
        `${g.name}${g.id === undefined ? "" : ` (id ${g.id})`}  members: ${g.members.join(", ") || "none"}\n`,
      );
    }
    return;
  }
  if (result.apps !== undefined) {
    if (result.apps.length === 0) out.write("no apps\n");
    for (const a of result.apps) {
      out.write(
        `${a.name}${a.id === undefined ? "" : ` (id ${a.id})`}  publication: ${a.publicationGroups.join(", ") || "none"}` +
          `  responsible: ${a.responsibleGroups.join(", ") || "none"}  service logins: ${a.serviceLogins.join(", ") || "none"}\n`,
      );
    }
    return;
  }
  if (result.token !== undefined) {
    out.write(
      `Service login ${result.login ?? ""} created. Its token (shown only now; store it as a secret):\n\n  ${result.token}\n\n`,
    );
    // --password-stdin: a token given with -p would show in `ps` and the shell's history.
    out.write(
      `Log in with: printf '%s' "$TOKEN" | skopeo login -u ${result.login ?? ""} --password-stdin <registry>\n`,
    );
  }
  out.write(
    result.commit === undefined ? "access.yaml unchanged\n" : `committed ${result.commit.slice(0, 12)}\n`,
  );
}
