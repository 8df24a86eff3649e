import { InputError, UsageError } from "../errors.js";
import { isRepositoryName, isTag } from "../image/names.js";
import type { ImageSource, SourceImage } from "../image/model.js";

/** One repository's worth of publishing: an image (or index) and the tags it gets. */
export interface Target {
  name: string;
  tags: string[];
  image: SourceImage;
}

export interface TargetOptions {
  /** --name: the repository name for every image of the input. */
  name?: string;
  /** --tag (repeatable): the tags to publish, replacing those found in the input. */
  tags?: string[];
}

/**
 * Decide which repository and tags each image of the input is published under.
 * Flags win over what the archive says; an image with no name anywhere is a usage error,
 * and an image with a name but no tag gets `latest`, as `docker push` would.
 */
export function selectTargets(
  source: ImageSource,
  options: TargetOptions,
  /** What the reader warned about (names it ignored); skipped images are added to it. */
  warnings: string[] = [],
): Target[] {
  if (options.name !== undefined && !isRepositoryName(options.name)) {
    throw new UsageError(`--name ${JSON.stringify(options.name)} is not a valid repository name`, {
      hint: "Use lower-case letters, digits and separators (. _ __ -), with / between components, e.g. acme/bigdata-app.",
    });
  }
  for (const tag of options.tags ?? []) {
    if (!isTag(tag)) {
      throw new UsageError(`--tag ${JSON.stringify(tag)} is not a valid tag`, {
        hint: "A tag is up to 128 characters of letters, digits, _ . and -, not starting with . or -.",
      });
    }
  }
  const images = source.images.filter((image) => {
    if (!lostEveryName(image, options)) return true;
    const what = options.name === undefined ? "repository name" : "tag";
    warnings.push(
      `${source.path}: image ${image.root.digest} is not pushed: the input gives it no valid ${what} (see above)`,
    );
    return false;
  });
  if (images.length === 0) {
    const dropped = warnings.filter((w) => w.startsWith(`${source.path}: `) && w.includes(": ignoring "));
    if (dropped.length > 0) {
      const shown = dropped.slice(0, 3).map((w) => w.slice(source.path.length + 2));
      throw new InputError(
        source.path,
        `nothing to push: no image in it has a valid name (${shown.join("; ")}${dropped.length > 3 ? "; …" : ""})`,
        {
          hint: "Name it with --name and --tag (e.g. --name acme/app --tag 1.0), or fix the names in the input.",
        },
      );
    }
    throw new InputError(source.path, "contains no image");
  }
  if (options.name !== undefined && images.length > 1 && (options.tags?.length ?? 0) > 0) {
    throw new UsageError(
      `${source.path} holds ${images.length} images; --name with --tag would give them all the same tags`,
      { hint: "Push them one at a time, or leave out --tag to keep the tags recorded in the archive." },
    );
  }

  const byName = new Map<string, Target>();
  const claimed = new Map<string, SourceImage>();
  for (const image of images) {
    const names = new Map<string, Set<string>>();
    if (options.name !== undefined) {
      // Bare tags (skopeo's `oci:dir:tag` records only a tag) count once a name is given.
      const bare = (image as SourceImage & { tags?: string[] }).tags ?? [];
      const tags = options.tags ?? [
        ...image.refs.map((r) => r.tag).filter((t): t is string => t !== undefined),
        ...bare,
      ];
      names.set(options.name, new Set(tags));
    } else {
      for (const ref of image.refs) {
        const set = names.get(ref.name) ?? new Set<string>();
        if (ref.tag !== undefined) set.add(ref.tag);
        names.set(ref.name, set);
      }
      if (options.tags !== undefined) for (const set of names.values()) set.clear();
      for (const set of names.values()) for (const tag of options.tags ?? []) set.add(tag);
    }
    if (names.size === 0) {
      throw new UsageError(`${source.path} does not say which repository its image belongs to`, {
        hint: "Give the name with --name, e.g. `raas push acme image.tar --name acme/app --tag 1.0`.",
      });
    }
    for (const [name, tagSet] of names) {
      if (tagSet.size === 0) tagSet.add("latest");
      for (const tag of tagSet) {
        const key = `${name}:${tag}`;
        const previous = claimed.get(key);
        if (previous !== undefined && previous.root.digest !== image.root.digest) {
          throw new InputError(source.path, `two different images are both tagged ${key}`);
        }
        claimed.set(key, image);
      }
      const existing = byName.get(name);
      if (existing === undefined) {
        byName.set(name, { name, tags: [...tagSet].sort(), image });
      } else if (existing.image.root.digest === image.root.digest) {
        existing.tags = [...new Set([...existing.tags, ...tagSet])].sort();
      } else {
        // Same repository, different images: each becomes its own target with its own tags.
        byName.set(`${name}\u0000${image.root.digest}`, { name, tags: [...tagSet].sort(), image });
      }
    }
  }
  return [...byName.values()];
}

/**
 * An image whose names in the input were all invalid (each ignored with a warning) and that
 * the flags do not name either: it has no name to be published under (with --name alone it
 * would silently become `latest`), so it is left out.
 */
function lostEveryName(image: SourceImage, options: TargetOptions): boolean {
  if ((image.droppedNames ?? 0) === 0) return false;
  const bare = (image as SourceImage & { tags?: string[] }).tags ?? [];
  if (options.name === undefined) return image.refs.length === 0;
  if (options.tags !== undefined) return false;
  return bare.length === 0 && !image.refs.some((r) => r.tag !== undefined);
}
