import { h, type Html } from "./html.js";

export interface PullTarget {
  host: string;
  name: string;
  tag?: string;
  digest?: string;
  /** Plain-HTTP registry: skopeo and podman need their TLS switch turned off. */
  plainHttp: boolean;
}

export interface PullCommand {
  tool: "skopeo" | "podman" | "docker";
  text: string;
}

/**
 * The commands a visitor copies. Every part is a validated host, name, tag or digest, so the
 * commands need no shell quoting; the web tests run the skopeo one as copied.
 */
export function pullCommands(t: PullTarget): PullCommand[] {
  const ref = `${t.host}/${t.name}${t.digest !== undefined ? `@${t.digest}` : `:${t.tag ?? "latest"}`}`;
  const last = t.name.slice(t.name.lastIndexOf("/") + 1);
  const dest = t.digest !== undefined ? `oci:${last}` : `oci:${last}:${t.tag ?? "latest"}`;
  const skopeoTls = t.plainHttp ? " --src-tls-verify=false" : "";
  const podmanTls = t.plainHttp ? " --tls-verify=false" : "";
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

/** Said once under the pull commands of a page. */
export const plainHttpNote = (plainHttp: boolean) =>
  plainHttp
    ? h`<p class="muted">This registry speaks plain HTTP: docker needs it listed under <code>insecure-registries</code>.</p>`
    : "";

/** Under the pull commands of a repository that clients pull only after logging in. */
export function loginNote(needsLogin: boolean, host: string, plainHttp: boolean): Html | "" {
  if (!needsLogin) return "";
  const tls = plainHttp ? " --tls-verify=false" : "";
  return h`<p class="muted" id="login-note">Pulling needs a login to the registry first: <code>skopeo login${tls} ${host}</code> (or <code>podman login${tls} ${host}</code>, <code>docker login ${host}</code>), with the name and password of this page.</p>`;
}
