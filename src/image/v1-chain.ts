import { InputError } from "../errors.js";
import { tooDeep } from "./json-depth.js";
import { isV1Id, type V1Image, type V1Repository } from "./v1.js";

/** Reads `id` and `parent` from a v1 `json` (Pulp also accepted Docker's capitalised `Id`/`Parent`). */
export function v1Identity(
  config: Record<string, unknown>,
  path: string,
  where: string,
): { id: string; parent: string | undefined } {
  const id = config.id ?? config.Id;
  if (!isV1Id(id)) throw new InputError(path, `${where} has no valid "id" (64 lower-case hex digits)`);
  const parent = config.parent ?? config.Parent;
  if (parent === undefined || parent === null || parent === "") return { id, parent: undefined };
  if (!isV1Id(parent)) {
    throw new InputError(path, `${where} has an invalid "parent" ${JSON.stringify(parent)}`);
  }
  return { id, parent };
}

/**
 * Cross-checks the images of a v1 repository: each ancestry starts with the image itself and
 * continues with its parent's ancestry, so a client walking ancestry -> json -> layer sees one
 * consistent chain. Ids the chains name that the input does not hold are collected as
 * `external` (vendor layers); whether they are allowed is decided by the masked set later.
 */
export function checkChains(repo: V1Repository, path: string): void {
  for (const image of repo.images.values()) {
    const where = `image ${image.id}`;
    if (image.ancestry[0] !== image.id) {
      throw new InputError(
        path,
        `${where}: its ancestry starts with ${image.ancestry[0] ?? "nothing"}, not itself`,
      );
    }
    if (image.ancestry[1] !== image.parent) {
      throw new InputError(
        path,
        `${where}: its json names parent ${image.parent ?? "none"} but its ancestry names ${image.ancestry[1] ?? "none"}`,
      );
    }
    if (new Set(image.ancestry).size !== image.ancestry.length) {
      throw new InputError(path, `${where}: its ancestry names an image twice`);
    }
    const parent = image.parent === undefined ? undefined : repo.images.get(image.parent);
    if (parent !== undefined && !sameList(parent.ancestry, image.ancestry.slice(1))) {
      throw new InputError(path, `${where}: its ancestry does not continue with its parent's ancestry`);
    }
    for (const id of image.ancestry) if (!repo.images.has(id)) repo.external.add(id);
  }
  for (const [tag, id] of Object.entries(repo.tags)) {
    if (!repo.images.has(id)) {
      throw new InputError(path, `tag ${tag} points to image ${id}, which is not in the archive`);
    }
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Parses an ancestry file: a JSON list of v1 ids, child first. */
export function parseAncestry(bytes: Buffer, path: string, where: string, maxLength: number): string[] {
  const deep = tooDeep(bytes);
  if (deep !== undefined) throw new InputError(path, `${where} ${deep}`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new InputError(path, `${where} is not valid JSON`);
  }
  if (Array.isArray(value) && value.length > maxLength) {
    throw new InputError(path, `${where} names ${value.length} images, more than the limit of ${maxLength}`, {
      hint: "Real images stay far below this limit (see Limits in docs/sources.md).",
    });
  }
  if (!Array.isArray(value) || value.length === 0 || !value.every(isV1Id)) {
    throw new InputError(path, `${where} is not a list of image ids (64 lower-case hex digits each)`);
  }
  return value;
}

/** Images of a repository ordered base first, for building a v2 manifest from `top`. */
export function chainOf(repo: V1Repository, top: string): string[] {
  const image: V1Image | undefined = repo.images.get(top);
  if (image === undefined) throw new Error(`image ${top} is not in the repository`);
  return [...image.ancestry].reverse();
}
