import { Readable } from "node:stream";
import { InputError } from "../errors.js";
import { sha256Digest } from "./digest.js";
import { MediaType } from "./media-types.js";
import { schema2Image } from "./schema2.js";
import type { Blob, ImageManifest } from "./model.js";
import { chainOf } from "./v1-chain.js";
import { describeGzip, describeTar, gzipOf, InflateLimitError } from "./v1-layer.js";
import type { V1Image, V1Repository } from "./v1.js";
import { historyOf, type HistoryEntry, type VendorLayer } from "./v1-to-v2.js";

export interface ConvertOptions {
  /** The input, for messages. */
  path: string;
  isMasked(id: string): boolean;
  /** The vendor's descriptor of a masked layer (from the cache, or fetched once). */
  vendorLayer(id: string): Promise<VendorLayer>;
  /** Bound on one layer's uncompressed size (`[raas] max_inflated_layer`). */
  maxInflated: number;
}

/** Keys of a v1 `json` that describe the v1 layer, not the image; dropped from a v2 config. */
const V1_ONLY_KEYS = new Set([
  "id",
  "Id",
  "parent",
  "Parent",
  "parent_id",
  "layer_id",
  "Size",
  "checksum",
  "throwaway",
]);

/**
 * Refuses a repository whose ancestry names an id that is neither in the input nor masked:
 * such an image could never be pulled completely.
 */
export function checkExternalIds(
  repo: V1Repository,
  options: Pick<ConvertOptions, "path" | "isMasked">,
): void {
  const unknown = [...repo.external].filter((id) => !options.isMasked(id));
  if (unknown.length > 0) {
    throw new InputError(
      options.path,
      `the ancestry names ${unknown.join(", ")}, neither in the archive nor a masked vendor layer`,
      {
        hint: "Add the vendor's metadata file (redhat/metadata/*.json in the config repository) or list the ids in [redhat] mask_layers.",
      },
    );
  }
}

/** Converts v1 images to Docker schema 2, sharing one description per layer across tags. */
export class V1Converter {
  private readonly layers = new Map<string, Promise<{ blob: Blob; history: HistoryEntry }>>();

  constructor(
    private readonly repo: V1Repository,
    private readonly options: ConvertOptions,
  ) {}

  /** The schema 2 image whose top v1 image is `top`. */
  async convert(top: string): Promise<ImageManifest> {
    const chain = chainOf(this.repo, top);
    const described = [];
    for (const id of chain) described.push(await this.layer(id));
    const topImage = this.repo.images.get(top) as V1Image;
    const config: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(topImage.config)) {
      if (!V1_ONLY_KEYS.has(key)) config[key] = value;
    }
    config.os ??= "linux";
    config.architecture ??= "amd64";
    config.rootfs = { type: "layers", diff_ids: described.map((d) => d.blob.diffId) };
    config.history = described.map((d) => d.history);
    const configBytes = Buffer.from(JSON.stringify(config));
    const configBlob: Blob = {
      digest: sha256Digest(configBytes),
      size: configBytes.length,
      mediaType: MediaType.dockerConfig,
      open: () => Readable.from([configBytes]),
      origin: `${this.options.path}: v2 config of ${top}`,
    };
    const layers = described.map((d) => d.blob);
    return schema2Image(configBlob, layers);
  }

  /** The v2 blob of one image's layer (the vendor's for masked ids). */
  async layerBlob(id: string): Promise<Blob> {
    return (await this.layer(id)).blob;
  }

  private layer(id: string): Promise<{ blob: Blob; history: HistoryEntry }> {
    let pending = this.layers.get(id);
    if (pending === undefined) {
      pending = this.describe(id);
      this.layers.set(id, pending);
    }
    return pending;
  }

  private async describe(id: string): Promise<{ blob: Blob; history: HistoryEntry }> {
    const image = this.repo.images.get(id);
    // A masked layer is always referenced as the vendor hosts it, even when the input holds a
    // copy, and as a Docker foreign layer whose `urls` name the vendor's copy: any registry
    // and client can then fetch it from the vendor, not only a raas registry that redirects.
    if (this.options.isMasked(id) || image === undefined) {
      const vendor = await this.options.vendorLayer(id);
      const blob: Blob = {
        digest: vendor.digest,
        size: vendor.size,
        diffId: vendor.diffId,
        mediaType: MediaType.dockerForeignLayerGzip,
        aliases: [id],
        url: vendor.url,
        origin: vendor.url,
        open: () => {
          throw new Error(`layer ${id} is a vendor layer hosted at ${vendor.url}; raas never uploads it`);
        },
      };
      return { blob, history: vendor.history ?? {} };
    }
    const { layer } = image;
    let descriptor;
    const limit = this.options.maxInflated;
    try {
      descriptor = layer.gzipped
        ? await describeGzip(layer.open(), limit)
        : await describeTar(layer.open(), limit);
    } catch (err) {
      if (err instanceof InflateLimitError) {
        throw new InputError(
          layer.origin,
          `layer inflates to more than ${limit} bytes, the limit for converting a v1 layer`,
          {
            hint: "If the layer is genuine, raise [raas] max_inflated_layer in raas.cfg (e.g. max_inflated_layer = 128GiB).",
          },
        );
      }
      const what = layer.gzipped ? "a gzip-compressed layer" : "a readable layer";
      throw new InputError(layer.origin, `not ${what} (${(err as Error).message})`, { cause: err });
    }
    if (layer.gzipped && descriptor.size !== layer.size) {
      throw new InputError(layer.origin, `layer is ${layer.size} bytes but ${descriptor.size} were read`);
    }
    const blob: Blob = {
      digest: descriptor.digest,
      size: descriptor.size,
      diffId: descriptor.diffId,
      mediaType: MediaType.dockerLayerGzip,
      aliases: [id],
      origin: layer.origin,
      open: () => (layer.gzipped ? layer.open() : gzipOf(layer.open())),
    };
    return { blob, history: historyOf(image.config) };
  }
}
