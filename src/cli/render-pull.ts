/** The TLS options of the pull commands raas prints (`raas push`, `raas promote`). */
import type { RegistryTlsHint } from "../commands/types.js";

/**
 * Plain HTTP needs --tls-verify=false; HTTPS with raas's CA needs its directory; HTTPS the
 * system trusts needs nothing. `source` is the option as skopeo copy spells it for the source
 * (`--src-…`); `own` as skopeo inspect and podman pull spell it. Each starts with a space.
 */
export function pullTlsOptions(hint: RegistryTlsHint): { source: string; own: string } {
  if (!hint.tls) return { source: " --src-tls-verify=false", own: " --tls-verify=false" };
  if (hint.certDir === undefined) return { source: "", own: "" };
  const dir = shellWord(hint.certDir);
  return { source: ` --src-cert-dir ${dir}`, own: ` --cert-dir ${dir}` };
}

/** A path as one shell word (quoted when it holds anything but plain path characters). */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}
