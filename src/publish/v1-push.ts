import type { Federation } from "../federation/index.js";
import { dashed, metadataFileName } from "../image/names.js";
import { emptyRecord } from "../image/records.js";
import type { Blob } from "../image/model.js";
import type { V1Repository } from "../image/v1.js";
import type { BlobStore } from "../storage/types.js";
import type { Reporter } from "../ui/reporter.js";
import type { Target } from "./targets.js";
import { publishV1Images, v1MetadataText, type V1Action } from "./v1-publish.js";

/** Where the Crane v1 file of a repository lives in the app repo: beside, not over, the v4 file. */
export function v1MetadataPath(isv: string, name: string): string {
  return `data/v1/${metadataFileName(isv, name)}`;
}

/**
 * Checks, before anything is uploaded, that the Crane v1 file of every v1 target is one raas
 * may merge into (the same check the metadata commit makes), so a refusal leaves no orphans.
 */
export async function checkV1Files(
  isv: string,
  targets: Target[],
  read: (path: string) => Promise<string | undefined>,
): Promise<void> {
  for (const target of targets) {
    if (target.image.v1 === undefined || target.name.split("/").length > 2) continue;
    const path = v1MetadataPath(isv, target.name);
    const existing = await read(path);
    if (existing === undefined) continue;
    const prefix = dashed(target.name);
    v1MetadataText(existing, path, { name: target.name, prefix, url: "", images: [], tags: {} });
  }
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
  federation: Federation | undefined;
  store: BlobStore;
  reporter: Reporter;
  repositoryUrl(prefix: string): string;
  concurrency: number;
  publicRead: boolean;
  /** Garbage-collection safety: which stored v1 files the push may trust (all when unset). */
  reuse?: { referencedIds(metadataPath: string): Promise<ReadonlySet<string>>; writtenSince: Date };
}): Promise<V1Publication[]> {
  const byName = new Map<
    string,
    { repo: V1Repository; tags: Record<string, string>; layerBlob: (id: string) => Promise<Blob> }
  >();
  for (const target of options.targets) {
    const v1 = target.image.v1;
    if (v1 === undefined) continue;
    if (target.name.split("/").length > 2) {
      options.reporter.warn(`${target.name} has more than one "/", which registry v1 cannot serve; v2 only`);
      continue;
    }
    const entry = byName.get(target.name) ?? {
      repo: v1.repository,
      tags: emptyRecord<string>(),
      layerBlob: (id) => v1.layerBlob(id),
    };
    for (const tag of target.tags) entry.tags[tag] = v1.top;
    byName.set(target.name, entry);
  }
  const isMasked = (id: string) => options.federation?.isMasked(id) ?? false;
  const out: V1Publication[] = [];
  for (const [name, { repo, tags, layerBlob }] of byName) {
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
      layerBlob,
      concurrency: options.concurrency,
      publicRead: options.publicRead,
    });
    const count = (a: V1Action) => Object.values(images).filter((v) => v === a).length;
    // Vendor images are not in the input (only named by ancestries), yet masked like the v2 layers they are.
    const vendor = [...repo.external].filter((id) => isMasked(id) && images[id] === undefined).length;
    step.succeed(
      `v1 images of ${name}: ${count("uploaded")} uploaded, ${count("present")} already stored, ${count("masked") + vendor} masked`,
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
