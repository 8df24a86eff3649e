import type { ImageRef } from "../image/model.js";
import { isTag, readReference, tagProblem } from "../image/names.js";
import { quoted } from "../ui/safe-text.js";
import { addRef } from "./types.js";

/**
 * A reference from an archive that breaks the name/tag grammar is ignored, not fatal: the
 * image is still readable and can be pushed with --name/--tag. The reader records a warning
 * naming the value (quoted safely: it may be huge or hold escape sequences) and why it is not
 * valid, so the user learns why the image has fewer names than expected.
 */
export function refFrom(value: string, where: string, warnings: string[]): ImageRef | undefined {
  const parsed = readReference(value);
  if ("problem" in parsed) {
    warnings.push(ignored(where, value, parsed.problem));
    return undefined;
  }
  return parsed.tag === undefined ? { name: parsed.name } : { name: parsed.name, tag: parsed.tag };
}

/** The warning for a name or tag an input gives that is not valid. */
export function ignored(where: string, value: string, problem: string): string {
  return `${where}: ignoring ${quoted(value)}: ${problem}`;
}

/**
 * Names from OCI index annotations. `io.containerd.image.name` is a full reference;
 * `org.opencontainers.image.ref.name` is a full reference or, as skopeo and Docker 25+ write
 * it, only a tag. A value without "/" or ":" is read as a tag: it is ambiguous, and the
 * tag-only form is by far the common one.
 */
export function refsFromAnnotations(
  annotations: Record<string, string>,
  where: string,
  warnings: string[],
): { refs: ImageRef[]; tags: string[] } {
  const refs: ImageRef[] = [];
  const tags: string[] = [];
  const full = annotations["io.containerd.image.name"];
  const fullRef =
    full === undefined ? undefined : refFrom(full, `${where} io.containerd.image.name`, warnings);
  if (fullRef !== undefined) addRef(refs, fullRef);
  const refName = annotations["org.opencontainers.image.ref.name"];
  const refWhere = `${where} org.opencontainers.image.ref.name`;
  if (refName !== undefined) {
    if (isTag(refName)) {
      if (fullRef !== undefined) addRef(refs, { name: fullRef.name, tag: refName });
      else tags.push(refName);
    } else if (!refName.includes("/") && !refName.includes(":")) {
      warnings.push(ignored(refWhere, refName, tagProblem(refName) ?? "not a valid tag"));
    } else {
      const ref = refFrom(refName, refWhere, warnings);
      if (ref !== undefined) addRef(refs, ref);
    }
  }
  return { refs, tags };
}
