/**
 * Lexical handling of paths inside an archive. Nothing here touches the filesystem: archive
 * paths are only ever looked up in the archive's own index, never joined to a host path.
 */

/** The normalised name, "" for the archive root, or the reason the name is unsafe. */
export type NameCheck = { ok: true; name: string } | { ok: false; problem: string };

export function checkArchiveName(raw: string): NameCheck {
  if (raw === "") return { ok: false, problem: "empty member name" };
  const segments = raw.split("/").filter((segment) => segment !== "" && segment !== ".");
  if (raw.startsWith("/")) {
    // Pulp exports start with a root directory entry named "/"; anything below it is absolute.
    if (segments.length === 0) return { ok: true, name: "" };
    return { ok: false, problem: `absolute member name "${raw}"` };
  }
  if (segments.includes("..")) return { ok: false, problem: `member name "${raw}" contains ".."` };
  if (raw.includes("\\")) return { ok: false, problem: `member name "${raw}" contains a backslash` };
  return { ok: true, name: segments.join("/") };
}

/**
 * Resolves a symlink target against the directory of the link, purely lexically.
 * Returns undefined when the target is absolute or climbs above the archive root.
 */
export function resolveLinkTarget(linkName: string, target: string): string | undefined {
  if (target === "" || target.startsWith("/")) return undefined;
  const parts = linkName.split("/");
  parts.pop();
  for (const segment of target.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else {
      parts.push(segment);
    }
  }
  return parts.join("/");
}
