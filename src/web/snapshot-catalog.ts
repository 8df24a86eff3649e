import type { CraneV4, RaasExtension } from "../crane/types.js";
import { isDigest, sha256Digest, type Digest } from "../image/digest.js";
import type { MetadataIndex } from "../crane/load.js";
import type { BlobInfo, ManifestInfo, RepositoryDetail, RepositorySummary, WebCatalog } from "./catalog.js";

/**
 * The parts of the registry's metadata snapshot the page reads; the server's snapshot is one.
 * Declared here so that the page depends on the metadata, not on the server that mounts it.
 */
export interface Snapshot {
  index: Pick<MetadataIndex, "v2">;
  /** Manifest bytes as the app repository holds them, keyed by `<repository>/<digest>`. */
  manifests: ReadonlyMap<string, { bytes: Buffer }>;
}

/** Reads bytes the metadata points at (serve_content files or object storage), by storage key. */
export interface StorageReader {
  /**
   * The object at `key` (`<repository>/blobs/<digest>` or `<repository>/manifests/{2,list}/<digest>`),
   * at most `maxBytes`, or undefined when it is missing or larger. `repoUrl` is the metadata `url`.
   */
  read(key: string, repoUrl: string, maxBytes: number): Promise<Buffer | undefined>;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

interface Built {
  summaries: RepositorySummary[];
  details: Map<string, RepositoryDetail>;
  storage: Map<string, { repository: string; url: string }>;
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

const INDEX = new Set([
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.index.v1+json",
]);

function raasDetail(meta: CraneV4, ext: RaasExtension): RepositoryDetail {
  const manifests = new Map<Digest, ManifestInfo>();
  for (const [digest, record] of Object.entries(ext.manifests) as [
    Digest,
    RaasExtension["manifests"][Digest],
  ][]) {
    manifests.set(digest, {
      digest,
      mediaType: record.mediaType,
      size: record.size,
      refs: record.refs,
      ...(record.platform === undefined ? {} : { platform: record.platform }),
    });
  }
  const blobs = new Map<Digest, BlobInfo>();
  for (const [digest, record] of Object.entries(ext.blobs) as [Digest, RaasExtension["blobs"][Digest]][]) {
    const hostedAt = record.url === undefined ? undefined : (hostOf(record.url) ?? "another host");
    blobs.set(digest, {
      size: record.size,
      ...(record.mediaType === undefined ? {} : { mediaType: record.mediaType }),
      ...(hostedAt === undefined ? {} : { hostedAt }),
    });
  }
  // Object.entries never yields inherited keys, so a tag named `__proto__` is just a tag here.
  const tags = new Map(Object.entries<Digest>(ext.tags));
  return {
    name: meta["repo-registry-id"],
    ...(ext.updated === undefined ? {} : { updated: ext.updated }),
    tags,
    manifests,
    blobs,
    craneReferences: [],
  };
}

function build(snap: Snapshot): Built {
  const summaries: RepositorySummary[] = [];
  const details = new Map<string, RepositoryDetail>();
  const storage = new Map<string, { repository: string; url: string }>();
  for (const { meta } of snap.index.v2.values()) {
    // Protected repositories need an entitlement the server does not read: /v2/ hides them, so do we.
    if (meta.protected === true) continue;
    const name = meta["repo-registry-id"];
    let detail: RepositoryDetail;
    if (meta.version === 4 && meta["x-raas"] !== undefined) {
      detail = raasDetail(meta, meta["x-raas"]);
    } else {
      const refs = new Set<string>(meta.version === 2 ? [] : meta.schema2_data);
      if (meta.version === 4) {
        for (const ref of meta.manifest_list_data) refs.add(ref);
        for (const tag of Object.keys(meta.manifest_list_amd64_tags)) refs.add(tag);
      }
      detail = {
        name,
        tags: new Map(),
        manifests: new Map(),
        blobs: new Map(),
        craneReferences: [...refs].sort(),
      };
    }
    details.set(name, detail);
    storage.set(name, { repository: meta.repository, url: meta.url });
    summaries.push({
      name,
      tagCount:
        detail.tags.size > 0 ? detail.tags.size : detail.craneReferences.filter((r) => !isDigest(r)).length,
      ...(detail.updated === undefined ? {} : { updated: detail.updated }),
    });
  }
  summaries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { summaries, details, storage };
}

/**
 * The page's view of the server's snapshot. The view is rebuilt once per snapshot (a reload swaps
 * the snapshot object), so a page never mixes two loads. Manifest bytes come from the snapshot
 * when the app repo holds them, otherwise from storage; every read is checked against its digest.
 */
export function snapshotCatalog(snapshot: () => Snapshot, reader: StorageReader): WebCatalog {
  const views = new WeakMap<Snapshot, Built>();
  const view = (): { snap: Snapshot; built: Built } => {
    const snap = snapshot();
    let built = views.get(snap);
    if (built === undefined) {
      built = build(snap);
      views.set(snap, built);
    }
    return { snap, built };
  };
  const verified = (bytes: Buffer | undefined, digest: Digest) =>
    bytes !== undefined && sha256Digest(bytes) === digest ? bytes : undefined;

  return {
    repositories: () => view().built.summaries,
    repository: (name) => view().built.details.get(name),
    async manifestBytes(name, digest) {
      const { snap, built } = view();
      const where = built.storage.get(name);
      const info = built.details.get(name)?.manifests.get(digest);
      if (where === undefined || info === undefined) return undefined;
      const served = snap.manifests.get(`${where.repository}/${digest}`);
      if (served !== undefined) return served.bytes;
      const folder = INDEX.has(info.mediaType) ? "list" : "2";
      const key = `${where.repository}/manifests/${folder}/${digest}`;
      return verified(await reader.read(key, where.url, MAX_MANIFEST_BYTES), digest);
    },
    async blobBytes(name, digest, maxBytes) {
      const { built } = view();
      const where = built.storage.get(name);
      const blob = built.details.get(name)?.blobs.get(digest);
      // Only blobs the repository lists, and never one hosted elsewhere.
      if (where === undefined || blob === undefined || blob.hostedAt !== undefined) return undefined;
      if (blob.size > maxBytes) return undefined;
      return verified(await reader.read(`${where.repository}/blobs/${digest}`, where.url, maxBytes), digest);
    },
  };
}
