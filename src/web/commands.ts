import { h, type Html } from "./html.js";

export interface PullTarget {
  host: string;
  name: string;
  tag?: string;
  digest?: string;
  /** Plain-HTTP registry: skopeo and podman need their TLS switch turned off. */
  plainHttp: boolean;
  /**
   * HTTPS with a certificate from a private CA (raas's local CA, or `tls_ca`): the directory
   * holding its `ca.crt`, which skopeo and podman trust with `--cert-dir`. Ignored over plain HTTP.
   */
  certDir?: string;
}

export interface PullCommand {
  tool: "skopeo" | "podman" | "docker";
  text: string;
}

/** The TLS options of skopeo copy (`--src-…`) and of podman and skopeo login. */
function tlsOptions(t: Pick<PullTarget, "plainHttp" | "certDir">): { source: string; own: string } {
  if (t.plainHttp) return { source: " --src-tls-verify=false", own: " --tls-verify=false" };
  if (t.certDir === undefined) return { source: "", own: "" };
  // Without it skopeo and podman refuse the certificate (x509: unknown authority).
  const dir = shellWord(t.certDir);
  return { source: ` --src-cert-dir ${dir}`, own: ` --cert-dir ${dir}` };
}

/** The server's own configured path as one shell word (quoted unless plain path characters). */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/**
 * The commands a visitor copies. Every part is a validated host, name, tag or digest, or the
 * server's CA directory quoted as one shell word, so the commands copy as they are; the web
 * tests run the skopeo one as copied.
 */
export function pullCommands(t: PullTarget): PullCommand[] {
  const ref = `${t.host}/${t.name}${t.digest !== undefined ? `@${t.digest}` : `:${t.tag ?? "latest"}`}`;
  const last = t.name.slice(t.name.lastIndexOf("/") + 1);
  const dest = t.digest !== undefined ? `oci:${last}` : `oci:${last}:${t.tag ?? "latest"}`;
  const { source: skopeoTls, own: podmanTls } = tlsOptions(t);
  return [
    { tool: "skopeo", text: `skopeo copy${skopeoTls} docker://${ref} ${dest}` },
    { tool: "podman", text: `podman pull${podmanTls} ${ref}` },
    { tool: "docker", text: `docker pull ${ref}` },
  ];
}

/** `group` makes the element ids unique within the page. */
export function commandBlock(group: string, label: string, t: PullTarget): Html {
  return h`<section class="cmds" aria-labelledby="${group}-label">
<h3 class="cmd-label" id="${group}-label">${label}</h3>
${pullCommands(t).map((c) => {
  const id = `${group}-${c.tool}`;
  return h`<div class="cmd"><pre><code id="${id}" data-tool="${c.tool}">${c.text}</code></pre><button type="button" data-copy="${id}" aria-label="Copy the ${c.tool} command (${label.toLowerCase()})">Copy</button></div>
`;
})}</section>`;
}

/** Said once under the pull commands of a page: what the client needs to reach this registry. */
export function tlsNote(t: Pick<PullTarget, "host" | "plainHttp" | "certDir">): Html | "" {
  if (t.plainHttp) {
    return h`<p class="muted">This registry speaks plain HTTP: docker needs it listed under <code>insecure-registries</code>.</p>`;
  }
  if (t.certDir === undefined) return "";
  const ca = `${t.certDir.replace(/\/+$/, "")}/ca.crt`;
  return h`<p class="muted" id="ca-note">This registry's certificate comes from a private CA, <code>${ca}</code> on the registry's machine: the commands above trust it with <code>--cert-dir</code>; to trust it for good, copy it to <code>/etc/containers/certs.d/${t.host}/ca.crt</code> (docker: <code>/etc/docker/certs.d/${t.host}/ca.crt</code>).</p>`;
}

/** Under the pull commands of a repository that clients pull only after logging in. */
export function loginNote(
  needsLogin: boolean,
  t: Pick<PullTarget, "host" | "plainHttp" | "certDir">,
): Html | "" {
  if (!needsLogin) return "";
  const host = t.host;
  const tls = tlsOptions(t).own;
  return h`<p class="muted" id="login-note">Pulling needs a login to the registry first: <code>skopeo login${tls} ${host}</code> (or <code>podman login${tls} ${host}</code>, <code>docker login ${host}</code>), with the name and password of this page.</p>`;
}
