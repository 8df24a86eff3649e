import type { Digest } from "../image/digest.js";
import { isJsonObject } from "../image/records.js";
import type { ManifestInfo, Platform, RepositoryDetail, WebCatalog } from "./catalog.js";

/** What the image page shows of a config blob; every field is optional because configs vary. */
export interface ConfigSummary {
  created?: string;
  author?: string;
  architecture?: string;
  os?: string;
  variant?: string;
  user?: string;
  workingDir?: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  exposedPorts?: string[];
  labels?: [string, string][];
}

const MAX_CONFIG_BYTES = 1024 * 1024;

const isIndexType = (mediaType: string) =>
  mediaType.endsWith("manifest.list.v2+json") || mediaType.endsWith("image.index.v1+json");
export const isIndex = (m: ManifestInfo) => isIndexType(m.mediaType);

/** A map that forgets its least recently used entries beyond `limit` entries or `maxWeight` in total. */
export class Lru<K, V> {
  private readonly map = new Map<K, { value: V; weight: number }>();
  private total = 0;
  constructor(
    private readonly limit: number,
    private readonly maxWeight = Number.POSITIVE_INFINITY,
    private readonly weigh: (value: V) => number = () => 0,
  ) {}
  get(key: K): V | undefined {
    const entry = this.map.get(key);
    if (entry !== undefined) {
      this.map.delete(key);
      this.map.set(key, entry);
    }
    return entry?.value;
  }
  set(key: K, value: V): void {
    this.delete(key);
    const weight = this.weigh(value);
    this.map.set(key, { value, weight });
    this.total += weight;
    while (this.map.size > this.limit || (this.total > this.maxWeight && this.map.size > 1)) {
      this.delete(this.map.keys().next().value as K);
    }
  }
  get weight(): number {
    return this.total;
  }
  private delete(key: K): void {
    const entry = this.map.get(key);
    if (entry === undefined) return;
    this.total -= entry.weight;
    this.map.delete(key);
  }
}

/** Free text in a config is cut here: the page shows a summary, not the document. */
const MAX_TEXT = 1000;
const MAX_ITEMS = 100;

const cut = (text: string) => (text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text);
const str = (v: unknown) => (typeof v === "string" ? cut(v) : undefined);
const strList = (v: unknown) =>
  Array.isArray(v) && v.every((x) => typeof x === "string") ? v.slice(0, MAX_ITEMS).map(cut) : undefined;

function record(v: unknown): Record<string, unknown> | undefined {
  return isJsonObject(v) ? v : undefined;
}

/** Picks the fields the page shows out of an untrusted config document. */
export function summarizeConfig(bytes: Buffer): ConfigSummary | undefined {
  let doc: Record<string, unknown> | undefined;
  try {
    doc = record(JSON.parse(bytes.toString("utf8")));
  } catch {
    return undefined;
  }
  if (doc === undefined) return undefined;
  const inner = record(doc.config) ?? {};
  const out: ConfigSummary = {};
  const set = <K extends keyof ConfigSummary>(key: K, value: ConfigSummary[K] | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  const created = str(doc.created);
  set("created", created !== undefined && !Number.isNaN(Date.parse(created)) ? created : undefined);
  set("author", str(doc.author));
  set("architecture", str(doc.architecture));
  set("os", str(doc.os));
  set("variant", str(doc.variant));
  set("user", str(inner.User) || undefined);
  set("workingDir", str(inner.WorkingDir) || undefined);
  set("entrypoint", strList(inner.Entrypoint));
  set("cmd", strList(inner.Cmd));
  set("env", strList(inner.Env));
  const ports = record(inner.ExposedPorts);
  set(
    "exposedPorts",
    ports === undefined ? undefined : Object.keys(ports).sort().slice(0, MAX_ITEMS).map(cut),
  );
  const labels = record(inner.Labels);
  if (labels !== undefined) {
    set(
      "labels",
      Object.entries(labels)
        .filter((e): e is [string, string] => typeof e[1] === "string")
        .slice(0, MAX_ITEMS)
        .map(([k, v]): [string, string] => [cut(k), cut(v)])
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
  }
  return out;
}

export const platformText = (p: Platform) =>
  `${p.os}/${p.architecture}${p.variant === undefined ? "" : `/${p.variant}`}`;

/** The image manifests behind a manifest: itself, or the children of an index. */
export function imagesOf(repo: RepositoryDetail, m: ManifestInfo): ManifestInfo[] {
  if (!isIndex(m)) return [m];
  return m.refs.map((d) => repo.manifests.get(d)).filter((c): c is ManifestInfo => c !== undefined);
}

/** Bytes a pull of every platform fetches: distinct blobs (shared layers counted once). */
export function totalSize(repo: RepositoryDetail, m: ManifestInfo): number | undefined {
  const seen = new Set<Digest>();
  let total = 0;
  for (const image of imagesOf(repo, m)) {
    for (const ref of image.refs) {
      if (seen.has(ref)) continue;
      seen.add(ref);
      const blob = repo.blobs.get(ref);
      if (blob === undefined) return undefined;
      total += blob.size;
    }
  }
  return total;
}

/** The image whose config stands for a manifest: itself, or linux/amd64 (else the first) of an index. */
export function representative(repo: RepositoryDetail, m: ManifestInfo): ManifestInfo | undefined {
  const images = imagesOf(repo, m);
  return images.find((i) => i.platform?.os === "linux" && i.platform.architecture === "amd64") ?? images[0];
}

/** Config summaries by config digest; configs are content-addressed, so entries never go stale. */
export class ConfigCache {
  // At most 20,000 configs and about 32 MiB of summaries (UTF-16 length of their text).
  private readonly done = new Lru<Digest, ConfigSummary | null>(20_000, 16 * 1024 * 1024, (summary) =>
    summary === null ? 16 : JSON.stringify(summary).length + 64,
  );
  private readonly pending = new Map<Digest, Promise<ConfigSummary | undefined>>();
  constructor(private readonly catalog: WebCatalog) {}

  peek(digest: Digest): ConfigSummary | undefined {
    return this.done.get(digest) ?? undefined;
  }

  /** The config of an image manifest (its first ref, as raas records it). */
  load(repository: string, image: ManifestInfo): Promise<ConfigSummary | undefined> {
    const digest = image.refs[0];
    if (digest === undefined) return Promise.resolve(undefined);
    const known = this.done.get(digest);
    if (known !== undefined) return Promise.resolve(known ?? undefined);
    let p = this.pending.get(digest);
    if (p === undefined) {
      p = this.catalog
        .blobBytes(repository, digest, MAX_CONFIG_BYTES)
        .then((bytes) => {
          const summary = bytes === undefined ? undefined : summarizeConfig(bytes);
          // A miss is remembered only when the blob was read and is not a config.
          if (summary !== undefined || bytes !== undefined) this.done.set(digest, summary ?? null);
          return summary;
        })
        .finally(() => this.pending.delete(digest));
      this.pending.set(digest, p);
    }
    return p;
  }

  /**
   * Load the configs of many images with bounded concurrency, waiting at most `budgetMs`: what is
   * not loaded by then keeps loading in the background and shows up on the next visit.
   */
  async loadMany(repository: string, images: ManifestInfo[], budgetMs: number): Promise<boolean> {
    const todo = images.filter((i) => i.refs[0] !== undefined && this.done.get(i.refs[0]) === undefined);
    if (todo.length === 0) return true;
    let next = 0;
    const worker = async () => {
      while (next < todo.length) {
        const image = todo[next++];
        if (image !== undefined) await this.load(repository, image).catch(() => undefined);
      }
    };
    const all = Promise.all(Array.from({ length: Math.min(8, todo.length) }, worker)).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), budgetMs);
    });
    try {
      return await Promise.race([all, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
