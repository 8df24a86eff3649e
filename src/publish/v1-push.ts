import type { Federation } from "../federation/index.js";
import { dashed, metadataFileName } from "../image/names.js";
import { checkExternalIds, V1Converter } from "./v1-convert.js";
import type { V1Repository } from "../image/v1.js";
import type { OpenedSource, ReadImage } from "../sources/types.js";
import type { BlobStore } from "../storage/types.js";
import type { Reporter } from "../ui/reporter.js";
import type { Target } from "./targets.js";
import { publishV1Images, v1MetadataText, type V1Action } from "./v1-publish.js";

/** Where the Crane v1 file of a repository lives in the app repo: beside, not over, the v4 file. */
export function v1MetadataPath(isv: string, name: string): string {
  return `data/v1/${metadataFileName(isv, name)}`;
}

/**
 * Builds the v2 images of a v1 input: one Docker schema 2 image per tagged top image id. The
 * refs carry the input's repository name, so --name and --tag work as for any archive.
 */
export async function convertV1Source(
  source: OpenedSource,
  repo: V1Repository,
  federation: Federation | undefined,
): Promise<{ images: ReadImage[]; converter: V1Converter }> {
  const isMasked = (id: string) => federation?.isMasked(id) ?? false;
  checkExternalIds(repo, { path: source.path, isMasked });
  const converter = new V1Converter(repo, {
    path: source.path,
    isMasked,
    vendorLayer: (id) => {
      if (federation === undefined) throw new Error(`no federation configured for masked layer ${id}`);
      return federation.vendorLayer(id);
    },
  });
  const byTop = new Map<string, string[]>();
  for (const [tag, id] of Object.entries(repo.tags).sort(([a], [b]) => (a < b ? -1 : 1))) {
    byTop.set(id, [...(byTop.get(id) ?? []), tag]);
  }
  const images: ReadImage[] = [];
  for (const [top, tags] of byTop) {
    const root = await converter.convert(top);
    const refs = repo.name === undefined ? [] : tags.map((tag) => ({ name: repo.name as string, tag }));
    images.push({ root, refs, tags: repo.name === undefined ? tags : [], v1: { repository: repo, top } });
  }
  return { images, converter };
}

export interface V1Publication {
  name: string;
  metadataPath: string;
  images: Record<string, V1Action>;
  /** Renders the v1 file given the current one in the app repository. */
  render(existing: string | undefined): string;
}

/**
 * Publishes the v1 side of the targets that came from a v1 input: the image files in storage
 * now, the Crane v1 file (returned) in the caller's metadata commit.
 */
export async function publishV1Targets(options: {
  isv: string;
  targets: Target[];
  converter: V1Converter;
  federation: Federation | undefined;
  store: BlobStore;
  reporter: Reporter;
  repositoryUrl(prefix: string): string;
  concurrency: number;
  publicRead: boolean;
  /** Garbage-collection safety: which stored v1 files the push may trust (all when unset). */
  reuse?: { referencedIds(metadataPath: string): Promise<ReadonlySet<string>>; writtenSince: Date };
}): Promise<V1Publication[]> {
  const byName = new Map<string, { repo: V1Repository; tags: Record<string, string> }>();
  for (const target of options.targets) {
    const v1 = target.image.v1;
    if (v1 === undefined) continue;
    if (target.name.split("/").length > 2) {
      options.reporter.warn(`${target.name} has more than one "/", which registry v1 cannot serve; v2 only`);
      continue;
    }
    const entry = byName.get(target.name) ?? { repo: v1.repository, tags: {} };
    for (const tag of target.tags) entry.tags[tag] = v1.top;
    byName.set(target.name, entry);
  }
  const isMasked = (id: string) => options.federation?.isMasked(id) ?? false;
  const out: V1Publication[] = [];
  for (const [name, { repo, tags }] of byName) {
    const prefix = dashed(name);
    const step = options.reporter.step(`Publishing v1 images of ${name}`);
    const reuse =
      options.reuse === undefined
        ? undefined
        : {
            referenced: await options.reuse.referencedIds(v1MetadataPath(options.isv, name)),
            writtenSince: options.reuse.writtenSince,
          };
    const images = await publishV1Images({
      ...(reuse === undefined ? {} : { reuse }),
      store: options.store,
      reporter: options.reporter,
      prefix,
      repo,
      isMasked,
      layerBlob: (id) => options.converter.layerBlob(id),
      concurrency: options.concurrency,
      publicRead: options.publicRead,
    });
    const count = (a: V1Action) => Object.values(images).filter((v) => v === a).length;
    step.succeed(
      `v1 images of ${name}: ${count("uploaded")} uploaded, ${count("present")} already stored, ${count("masked")} masked`,
    );
    const metadataPath = v1MetadataPath(options.isv, name);
    const ids = [...repo.images.keys()].filter((id) => !isMasked(id));
    const url = options.repositoryUrl(prefix);
    out.push({
      name,
      metadataPath,
      images,
      render: (existing) => v1MetadataText(existing, metadataPath, { name, prefix, url, images: ids, tags }),
    });
  }
  return out;
}
