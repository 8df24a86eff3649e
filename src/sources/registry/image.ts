import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { sha256Digest } from "../../image/digest.js";
import {
  CONFIG_TYPES,
  IMAGE_MANIFEST_TYPES,
  INDEX_TYPES,
  LAYER_TYPES,
  MediaType,
} from "../../image/media-types.js";
import type { Blob, ImageIndex, ImageManifest, ManifestNode, Platform } from "../../image/model.js";
import { UserError } from "../../errors.js";
import { checkDescriptor, isObject, parseJsonObject, type Descriptor, type JsonObject } from "../json.js";
import { UpstreamError, type FetchedManifest, type RegistryClient } from "./client.js";

/** Bounds on what one upstream document may list; more is refused, not allocated. */
export const MAX_INDEX_ENTRIES = 256;
export const MAX_LAYERS = 512;
const CONFIG_LIMIT = 8 * 1024 * 1024;
const CONFIG_LIKE: ReadonlySet<string> = new Set([...CONFIG_TYPES, MediaType.ociEmpty]);

/**
 * Reads an image or index from an upstream registry into the shared image model. Manifests
 * keep the exact bytes served (verified against their digests); configs are fetched and
 * verified; layers are not fetched here: their `open()` streams them from upstream into the
 * upload when (and only when) storage lacks them.
 */
export async function readRegistryImage(
  client: RegistryClient,
  name: string,
  reference: string,
): Promise<ManifestNode> {
  const where = `docker://${client.host}/${name}`;
  const top = await client.manifest(name, reference);
  const doc = documentOf(top, where);
  if (INDEX_TYPES.has(top.mediaType)) {
    // documentOf checked the shape: an index has a manifests list.
    const entries: readonly unknown[] = Array.isArray(doc.manifests) ? doc.manifests : [];
    if (entries.length > MAX_INDEX_ENTRIES) {
      throw new UpstreamError(
        `${where}: index ${top.digest} lists ${entries.length} manifests, more than ${MAX_INDEX_ENTRIES}`,
      );
    }
    const manifests: ImageManifest[] = [];
    for (const [i, value] of entries.entries()) {
      const childWhere = `manifest ${i + 1} of index ${top.digest}`;
      const child = descriptor(value, where, childWhere);
      if (INDEX_TYPES.has(child.mediaType)) {
        throw new UpstreamError(`${where}: ${childWhere} is a nested index, which raas does not support`);
      }
      if (!IMAGE_MANIFEST_TYPES.has(child.mediaType)) {
        throw new UpstreamError(
          `${where}: ${childWhere} has media type ${child.mediaType}, not an image manifest`,
        );
      }
      const fetched = await client.manifest(name, child.digest);
      if (fetched.bytes.length !== child.size || fetched.mediaType !== child.mediaType) {
        throw new UpstreamError(
          `${where}: ${childWhere} declares ${child.size} bytes of ${child.mediaType}, the registry served ${fetched.bytes.length} bytes of ${fetched.mediaType}`,
        );
      }
      const image = await imageOf(client, name, fetched, where);
      const platform = platformOf(child.platform, where, childWhere);
      if (platform !== undefined) image.platform = platform;
      manifests.push(image);
    }
    const index: ImageIndex = {
      kind: "index",
      digest: top.digest,
      mediaType: top.mediaType,
      bytes: top.bytes,
      manifests,
    };
    return index;
  }
  return imageOf(client, name, top, where);
}

function descriptor(value: unknown, where: string, what: string): Descriptor {
  try {
    return checkDescriptor(value, where, what);
  } catch (err) {
    if (err instanceof UserError) throw new UpstreamError(err.message, { cause: err });
    throw err;
  }
}

/** Parses a manifest and rejects one whose body claims another type than the header (type confusion). */
function documentOf(manifest: FetchedManifest, where: string): JsonObject {
  const name = `manifest ${manifest.digest}`;
  let doc: JsonObject;
  try {
    doc = parseJsonObject(manifest.bytes, where, name);
  } catch (err) {
    throw new UpstreamError(err instanceof Error ? err.message : String(err), { cause: err });
  }
  if (doc.schemaVersion !== 2) throw new UpstreamError(`${where}: ${name} is not schemaVersion 2`);
  if (doc.mediaType !== undefined && doc.mediaType !== manifest.mediaType) {
    throw new UpstreamError(
      `${where}: ${name} says mediaType ${JSON.stringify(doc.mediaType).slice(0, 200)}, but was served as ${manifest.mediaType}`,
    );
  }
  const isImage = isObject(doc.config) && Array.isArray(doc.layers) && !("manifests" in doc);
  const isIndex = Array.isArray(doc.manifests) && !("config" in doc) && !("layers" in doc);
  if (IMAGE_MANIFEST_TYPES.has(manifest.mediaType) ? !isImage : !isIndex) {
    throw new UpstreamError(`${where}: ${name} does not have the shape of a ${manifest.mediaType}`);
  }
  return doc;
}

async function imageOf(
  client: RegistryClient,
  name: string,
  manifest: FetchedManifest,
  where: string,
): Promise<ImageManifest> {
  const doc = documentOf(manifest, where);
  const configDescriptor = descriptor(doc.config, where, `the config of ${manifest.digest}`);
  if (!CONFIG_LIKE.has(configDescriptor.mediaType)) {
    throw new UpstreamError(
      `${where}: the config of ${manifest.digest} has media type ${configDescriptor.mediaType}`,
    );
  }
  if (configDescriptor.size > CONFIG_LIMIT) {
    throw new UpstreamError(
      `${where}: the config of ${manifest.digest} declares ${configDescriptor.size} bytes, more than ${CONFIG_LIMIT}`,
    );
  }
  const configBytes = await fetchSmallBlob(client, name, configDescriptor, where);
  // documentOf checked the shape: an image manifest has a layers list.
  const layersValue: readonly unknown[] = Array.isArray(doc.layers) ? doc.layers : [];
  if (layersValue.length > MAX_LAYERS) {
    throw new UpstreamError(
      `${where}: ${manifest.digest} lists ${layersValue.length} layers, more than ${MAX_LAYERS}`,
    );
  }
  const layers = layersValue.map((value, i) => {
    const layer = descriptor(value, where, `layer ${i + 1} of ${manifest.digest}`);
    if (!LAYER_TYPES.has(layer.mediaType)) {
      throw new UpstreamError(
        `${where}: layer ${i + 1} of ${manifest.digest} has media type ${layer.mediaType}, not a layer type`,
      );
    }
    return streamedBlob(client, name, layer, where);
  });
  return {
    kind: "image",
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    bytes: manifest.bytes,
    config: {
      digest: configDescriptor.digest,
      size: configDescriptor.size,
      mediaType: configDescriptor.mediaType,
      open: () => Readable.from([configBytes]),
      origin: `${where}@${configDescriptor.digest}`,
    },
    layers,
  };
}

async function fetchSmallBlob(
  client: RegistryClient,
  name: string,
  d: Descriptor,
  where: string,
): Promise<Buffer> {
  const response = await client.blob(name, d.digest, d.size);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += (chunk as Buffer).length;
    if (total > d.size) {
      response.body.destroy();
      throw new UpstreamError(`${where}: blob ${d.digest} is longer than the ${d.size} bytes declared`);
    }
    chunks.push(chunk as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== d.size || sha256Digest(bytes) !== d.digest) {
    throw new UpstreamError(`${where}: blob ${d.digest} does not match its digest and size`);
  }
  return bytes;
}

/**
 * A layer whose bytes come straight from upstream when the upload opens it: no temp file.
 * The store verifies digest and size while it writes, so a lying upstream fails the upload.
 */
function streamedBlob(client: RegistryClient, name: string, d: Descriptor, where: string): Blob {
  return {
    digest: d.digest,
    size: d.size,
    mediaType: d.mediaType,
    origin: `${where}@${d.digest}`,
    open() {
      const out = new PassThrough();
      client
        .blob(name, d.digest, d.size)
        .then((response) => pipeline(response.body, out))
        .catch((err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
      return out;
    },
  };
}

function platformOf(value: unknown, where: string, what: string): Platform | undefined {
  if (value === undefined) return undefined;
  const str = (v: unknown, max = 128): v is string => typeof v === "string" && v.length <= max;
  if (!isObject(value) || !str(value.architecture) || !str(value.os)) {
    throw new UpstreamError(`${where}: ${what} has a malformed platform`);
  }
  const platform: Platform = { architecture: value.architecture, os: value.os };
  if (value.variant !== undefined) {
    if (!str(value.variant)) throw new UpstreamError(`${where}: ${what} has a malformed platform variant`);
    platform.variant = value.variant;
  }
  const version = value["os.version"];
  if (version !== undefined) {
    if (!str(version)) throw new UpstreamError(`${where}: ${what} has a malformed os.version`);
    platform["os.version"] = version;
  }
  return platform;
}
