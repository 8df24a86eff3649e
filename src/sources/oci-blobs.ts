import { InputError } from "../errors.js";
import { digestHex, sha256Digest, type Digest } from "../image/digest.js";
import {
  CONFIG_TYPES,
  IMAGE_MANIFEST_TYPES,
  INDEX_TYPES,
  LAYER_TYPES,
  MediaType,
} from "../image/media-types.js";
import type { Blob, ImageIndex, ImageManifest, ManifestNode, Platform } from "../image/model.js";
import type * as v from "valibot";
import {
  checkDescriptor,
  checkDocument,
  isObject,
  parseDocument,
  parseJsonObject,
  type Descriptor,
} from "./json.js";
import { ImageManifestDoc, IndexDoc, ManifestHeader } from "./schemas.js";
import type { LayoutFile, LayoutFiles } from "./layout-files.js";
import { checkCount, LIMITS } from "./limits.js";

/** Manifests and indexes are small; bigger ones are refused before they are read (as zot does). */
export const MANIFEST_LIMIT = 4 * 1024 * 1024;
export const CONFIG_LIMIT = 8 * 1024 * 1024;

const CONFIG_LIKE: ReadonlySet<string> = new Set([...CONFIG_TYPES, MediaType.ociEmpty]);

export function blobPath(digest: Digest): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

/**
 * Reads manifests, indexes and configs from the blobs/ of an OCI layout: every document is
 * size-checked, hashed against its descriptor and checked for type confusion before it is
 * trusted. Layers are only checked for presence and size; their bytes are verified by
 * whoever streams them.
 */
export class OciBlobs {
  /**
   * Each manifest and config is read, hashed and parsed once, however many entries list it:
   * an index naming one manifest 1,500 times must not cost 1,500 reads (or copies).
   */
  private readonly images = new Map<string, Promise<ImageManifest>>();
  private readonly configs = new Map<string, Promise<Blob>>();

  constructor(private readonly files: LayoutFiles) {}

  private get path(): string {
    return this.files.path;
  }

  async node(descriptor: Descriptor, where: string): Promise<ManifestNode> {
    if (IMAGE_MANIFEST_TYPES.has(descriptor.mediaType)) return this.image(descriptor, where);
    if (INDEX_TYPES.has(descriptor.mediaType)) return this.index(descriptor, where);
    throw new InputError(
      this.path,
      `${where} has media type ${descriptor.mediaType}, not an image manifest or index`,
    );
  }

  private async file(descriptor: Descriptor, where: string): Promise<LayoutFile> {
    const relative = blobPath(descriptor.digest);
    const file = await this.files.file(relative);
    if (file === undefined) {
      throw new InputError(this.path, `${where} refers to ${relative}, which is missing`);
    }
    if (file.size !== descriptor.size) {
      throw new InputError(
        this.path,
        `${relative} is ${file.size} bytes, but ${where} says ${descriptor.size}`,
      );
    }
    return file;
  }

  private async verified(descriptor: Descriptor, where: string, limit: number): Promise<Buffer> {
    if (descriptor.size > limit) {
      throw new InputError(
        this.path,
        `${where} declares ${descriptor.size} bytes, more than the ${limit}-byte limit`,
      );
    }
    const bytes = await (await this.file(descriptor, where)).read(limit);
    const actual = sha256Digest(bytes);
    if (actual !== descriptor.digest) {
      throw new InputError(
        this.path,
        `${blobPath(descriptor.digest)} does not match its digest (${where} says ${descriptor.digest}, content is ${actual})`,
      );
    }
    return bytes;
  }

  private blob(descriptor: Descriptor, file: LayoutFile): Blob {
    return {
      digest: descriptor.digest,
      size: descriptor.size,
      mediaType: descriptor.mediaType,
      open: () => file.open(),
      origin: `${this.path}:${blobPath(descriptor.digest)}`,
    };
  }

  /** Parses a manifest document and rejects one that claims to be something else. */
  private document<const S extends v.GenericSchema>(
    bytes: Buffer,
    descriptor: Descriptor,
    schema: S,
  ): v.InferInput<S> {
    const name = blobPath(descriptor.digest);
    const doc = parseDocument(ManifestHeader, bytes, this.path, name);
    if (doc.mediaType !== undefined && doc.mediaType !== descriptor.mediaType) {
      throw new InputError(
        this.path,
        `${name} says mediaType ${JSON.stringify(doc.mediaType)}, but its descriptor says ${descriptor.mediaType}`,
      );
    }
    return checkDocument(schema, doc, this.path, name);
  }

  private async image(descriptor: Descriptor, where: string, platform?: Platform): Promise<ImageManifest> {
    let pending = this.images.get(descriptor.digest);
    if (pending === undefined) {
      pending = this.readImage(descriptor, where);
      this.images.set(descriptor.digest, pending);
    }
    const image = await pending;
    if (image.mediaType !== descriptor.mediaType || image.bytes.length !== descriptor.size) {
      throw new InputError(
        this.path,
        `${where} lists ${descriptor.digest} with another media type or size than before`,
      );
    }
    // The same manifest may be listed for several platforms; the document itself is shared.
    return platform === undefined ? image : { ...image, platform };
  }

  private async readConfig(descriptor: Descriptor, where: string): Promise<Blob> {
    let pending = this.configs.get(descriptor.digest);
    if (pending === undefined) {
      pending = (async () => {
        parseJsonObject(await this.verified(descriptor, where, CONFIG_LIMIT), this.path, where);
        return this.blob(descriptor, await this.file(descriptor, where));
      })();
      this.configs.set(descriptor.digest, pending);
    }
    return pending;
  }

  private async readImage(descriptor: Descriptor, where: string): Promise<ImageManifest> {
    const bytes = await this.verified(descriptor, where, MANIFEST_LIMIT);
    const name = blobPath(descriptor.digest);
    const doc = this.document(bytes, descriptor, ImageManifestDoc);
    const configDescriptor = checkDescriptor(doc.config, this.path, `the config of ${name}`);
    if (!CONFIG_LIKE.has(configDescriptor.mediaType)) {
      throw new InputError(this.path, `the config of ${name} has media type ${configDescriptor.mediaType}`);
    }
    const configWhere = `the config of ${name}`;
    const config = await this.readConfig(configDescriptor, configWhere);
    const layers: Blob[] = [];
    const layerList = doc.layers;
    checkCount(this.path, `layers in ${name}`, layerList.length, LIMITS.layersPerImage);
    for (const [i, value] of layerList.entries()) {
      const layerWhere = `layer ${i + 1} of ${name}`;
      const layer = checkDescriptor(value, this.path, layerWhere);
      if (!LAYER_TYPES.has(layer.mediaType)) {
        throw new InputError(this.path, `${layerWhere} has media type ${layer.mediaType}, not a layer type`);
      }
      layers.push(this.blob(layer, await this.file(layer, layerWhere)));
    }
    return {
      kind: "image",
      digest: descriptor.digest,
      mediaType: descriptor.mediaType,
      bytes,
      config,
      layers,
    };
  }

  private async index(descriptor: Descriptor, where: string): Promise<ImageIndex> {
    const bytes = await this.verified(descriptor, where, MANIFEST_LIMIT);
    const name = blobPath(descriptor.digest);
    const doc = this.document(bytes, descriptor, IndexDoc);
    const manifests: ImageManifest[] = [];
    const children = doc.manifests;
    checkCount(this.path, `manifests in ${name}`, children.length, LIMITS.manifestsPerIndex);
    for (const [i, value] of children.entries()) {
      const childWhere = `manifest ${i + 1} of ${name}`;
      const child = checkDescriptor(value, this.path, childWhere);
      if (INDEX_TYPES.has(child.mediaType)) {
        throw new InputError(this.path, `${childWhere} is a nested index, which raas does not support`);
      }
      if (!IMAGE_MANIFEST_TYPES.has(child.mediaType)) {
        throw new InputError(
          this.path,
          `${childWhere} has media type ${child.mediaType}, not an image manifest`,
        );
      }
      manifests.push(await this.image(child, childWhere, this.platform(child.platform, childWhere)));
    }
    return { kind: "index", digest: descriptor.digest, mediaType: descriptor.mediaType, bytes, manifests };
  }

  private platform(value: unknown, where: string): Platform | undefined {
    if (value === undefined) return undefined;
    const bad = (): never => {
      throw new InputError(
        this.path,
        `${where} has a malformed platform ${JSON.stringify(value).slice(0, 200)}`,
      );
    };
    if (!isObject(value) || typeof value.architecture !== "string" || typeof value.os !== "string") {
      return bad();
    }
    const platform: Platform = { architecture: value.architecture, os: value.os };
    if (value.variant !== undefined) {
      platform.variant = typeof value.variant === "string" ? value.variant : bad();
    }
    const version = value["os.version"];
    if (version !== undefined) platform["os.version"] = typeof version === "string" ? version : bad();
    const features = value["os.features"];
    if (features !== undefined) {
      const ok = Array.isArray(features) && features.every((f) => typeof f === "string");
      platform["os.features"] = ok ? features : bad();
    }
    return platform;
  }
}
