import { stat } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../errors.js";
import { historyOf, type VendorLayer } from "../image/v1-to-v2.js";
import type { Reporter } from "../ui/reporter.js";
import { DescriptorCache } from "./descriptors.js";
import { fetchImageJson, fetchLayerDescriptor } from "./vendor-fetch.js";
import { loadVendorFiles, vendorFileUrl, type VendorFile, type VendorSources } from "./vendor-metadata.js";

export type { VendorFile } from "./vendor-metadata.js";

export interface FederationOptions extends VendorSources {
  /** `[redhat] mask_layers`. */
  maskLayers: readonly string[];
  /** Where the descriptor cache lives (see descriptorCachePath). */
  cacheFile: string;
  /** Bound on a vendor layer's uncompressed size while describing it (`[raas] max_inflated_layer`). */
  maxInflated: number;
  reporter: Reporter;
}

/**
 * Image federation (FORMATS.md §3): the vendor's layers are never uploaded, but published
 * images still reference them. The masked set is `[redhat] mask_layers` plus every image id of
 * the vendor metadata files; each vendor id resolves to `<vendor url>/<id>/layer`.
 */
export class Federation {
  /** Vendor layers downloaded (to learn their descriptors) during this run. */
  fetched: string[] = [];
  private readonly owners = new Map<string, VendorFile>();
  private readonly masked: Set<string>;

  private constructor(
    readonly vendorFiles: VendorFile[],
    maskLayers: readonly string[],
    private readonly cache: DescriptorCache,
    private readonly reporter: Reporter,
    private readonly maxInflated: number,
  ) {
    for (const file of vendorFiles) {
      for (const image of file.meta.images) if (!this.owners.has(image.id)) this.owners.set(image.id, file);
    }
    this.masked = new Set([...maskLayers.map((id) => id.toLowerCase()), ...this.owners.keys()]);
  }

  static async load(options: FederationOptions): Promise<Federation> {
    const files = await loadVendorFiles(options);
    const cache = await DescriptorCache.load(options.cacheFile);
    return new Federation(files, options.maskLayers, cache, options.reporter, options.maxInflated);
  }

  /** Every masked id: configured ids and vendor image ids. */
  maskIds(): string[] {
    return [...this.masked];
  }

  isMasked(id: string): boolean {
    return this.masked.has(id);
  }

  /** The vendor's v2 descriptor of a masked layer: from the cache, or fetched once and cached. */
  async vendorLayer(id: string): Promise<VendorLayer> {
    const owner = this.owners.get(id);
    if (owner === undefined) {
      throw new UserError(`masked layer ${id} is in no vendor metadata file, so nobody serves it`, {
        hint: "Add the vendor's Crane v1 metadata file that lists it to redhat/metadata/ in the config repository.",
      });
    }
    const url = vendorFileUrl(owner.meta, id, "layer");
    const cached = this.cache.get(id);
    if (cached !== undefined) return { ...cached, url };
    const step = this.reporter.step(`Describing vendor layer ${id.slice(0, 12)} from ${url}`);
    try {
      const descriptor = await fetchLayerDescriptor(url, { maxInflated: this.maxInflated });
      let history = {};
      try {
        history = historyOf(await fetchImageJson(vendorFileUrl(owner.meta, id, "json")));
      } catch (err) {
        this.reporter.warn(`no history for vendor layer ${id}: ${(err as Error).message}`);
      }
      this.cache.set(id, { ...descriptor, history });
      this.fetched.push(id);
      step.succeed(`Described vendor layer ${id.slice(0, 12)} (${descriptor.digest})`);
      return { ...descriptor, history, url };
    } catch (err) {
      step.fail(`Cannot describe vendor layer ${id.slice(0, 12)}`);
      throw err;
    }
  }

  /** Persists what was learnt; true when the cache file was written. */
  async save(): Promise<boolean> {
    return this.cache.save();
  }

  get cacheFile(): string {
    return this.cache.file;
  }
}

/**
 * The descriptor cache goes into the configuration repository when there is one (the run's
 * clone, or a directory laid out as one: it has `redhat/`), so every machine shares it;
 * otherwise under $RAAS_HOME.
 */
export async function descriptorCachePath(
  confDir: string | undefined,
  stateDir: string,
  isClone: boolean,
): Promise<string> {
  if (confDir !== undefined) {
    const redhat = path.join(confDir, "redhat");
    const exists = await stat(redhat).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (isClone || exists) return path.join(redhat, "descriptors.json");
  }
  return path.join(stateDir, "redhat", "descriptors.json");
}
