import type { VendorLayer } from "../image/v1-to-v2.js";
import { checkExternalIds, V1Converter } from "../image/v1-convert.js";
import type { V1Repository } from "../image/v1.js";
import type { ReadImage } from "./types.js";

/** What reading a v1 input needs to know beyond the input: the masked set and the vendor layers. */
export interface V1ReadOptions {
  isMasked(id: string): boolean;
  /** The vendor's descriptor of a masked layer. */
  vendorLayer(id: string): Promise<VendorLayer>;
  /** Bound on one layer's uncompressed size while computing its diff_id. */
  maxInflated: number;
}

/** Default bound on one v1 layer's uncompressed size (64 GiB, `[raas] max_inflated_layer`). */
export const DEFAULT_MAX_INFLATED = 64 * 1024 ** 3;

export const NO_VENDOR: V1ReadOptions = {
  isMasked: () => false,
  vendorLayer: (id) => Promise.reject(new Error(`no vendor metadata configured for masked layer ${id}`)),
  maxInflated: DEFAULT_MAX_INFLATED,
};

/**
 * The images of a v1 repository (Pulp export, pre-1.10 docker save) in the one image model:
 * a Docker schema 2 image per tagged top image id, each keeping its v1 view (repository, top
 * id, and the v2 blob of each layer, which the v1 publication copies). The refs carry the
 * input's repository name, so --name and --tag work as for any archive.
 */
export async function v1Images(
  path: string,
  repo: V1Repository,
  options: V1ReadOptions,
): Promise<ReadImage[]> {
  checkExternalIds(repo, { path, isMasked: (id) => options.isMasked(id) });
  const converter = new V1Converter(repo, { path, ...options });
  const byTop = new Map<string, string[]>();
  for (const [tag, id] of Object.entries(repo.tags).sort(([a], [b]) => (a < b ? -1 : 1))) {
    byTop.set(id, [...(byTop.get(id) ?? []), tag]);
  }
  const layerBlob = (id: string) => converter.layerBlob(id);
  const images: ReadImage[] = [];
  for (const [top, tags] of byTop) {
    const root = await converter.convert(top);
    const name = repo.name;
    const refs = name === undefined ? [] : tags.map((tag) => ({ name, tag }));
    images.push({
      root,
      refs,
      tags: name === undefined ? tags : [],
      v1: { repository: repo, top, layerBlob },
    });
  }
  return images;
}
