/**
 * One environment's view of a store it shares with the ISV's other environments. Blobs and
 * manifests by digest are content-addressed, so every environment uses the same keys and a
 * promotion moves no bytes. What says which digest a tag is (`<app>/manifests/<dir>/<tag>`,
 * `<app>/tags/list`) differs per environment, so those keys live under `_env/<env>/`: a first
 * segment no repository can have, which garbage collection never touches (docs/storage.md).
 */
import type { Readable } from "node:stream";
import { isDigest } from "../image/digest.js";
import type {
  AssembleOptions,
  BlobStore,
  ListedObject,
  ObjectInfo,
  PutOptions,
  PutResult,
} from "../storage/types.js";

export const ENVIRONMENT_PREFIX = "_env/";

/**
 * What a registry records in its store (pull statistics, the event outbox with its lease and
 * delivery marks): per environment when `records` is set, under `_env/<env>/.raas/...`.
 */
const RECORD_PREFIXES = [".raas/stats/", ".raas/events/"];

export function isRecordKey(key: string): boolean {
  return RECORD_PREFIXES.some((p) => key.startsWith(p));
}

/** Whether `key` names an environment's own object (a tag's manifest or `tags/list`). */
export function isPerEnvironmentKey(key: string): boolean {
  const parts = key.split("/");
  if (parts.length === 3 && parts[1] === "tags" && parts[2] === "list") return true;
  return parts.length === 4 && parts[1] === "manifests" && !isDigest(parts[3] ?? "");
}

export class EnvironmentStore implements BlobStore {
  readonly description: string;
  readonly container: string;
  readonly createNeedsConsent: boolean;
  private readonly prefix: string;

  constructor(
    readonly inner: BlobStore,
    readonly environment: string,
    /**
     * Whether this environment's statistics and events are its own (docs/environments.md,
     * "Statistics and events"): every environment sharing the store but the first one, which
     * keeps the plain `.raas/` keys and so the records written before environments had their own.
     */
    readonly records = false,
  ) {
    this.prefix = `${ENVIRONMENT_PREFIX}${environment}/`;
    this.description = `${inner.description} (environment ${environment})`;
    this.container = inner.container;
    this.createNeedsConsent = inner.createNeedsConsent;
    if (inner.anonymousUrl !== undefined) {
      const url = inner.anonymousUrl.bind(inner);
      this.anonymousUrl = (key) => url(this.map(key));
    }
    if (inner.makePublicRead !== undefined) {
      const make = inner.makePublicRead.bind(inner);
      this.makePublicRead = (key) => make(this.map(key));
    }
    if (inner.assemble !== undefined) {
      const assemble = inner.assemble.bind(inner);
      this.assemble = (parts, toKey, options) =>
        assemble(
          parts.map((part) => ({ ...part, key: this.map(part.key) })),
          this.map(toKey),
          options,
        );
    }
  }

  anonymousUrl?(key: string): string;
  makePublicRead?(key: string): Promise<void>;
  assemble?(
    parts: readonly { key: string; size: number }[],
    toKey: string,
    options?: AssembleOptions,
  ): Promise<void>;

  /** The key in the shared store. */
  map(key: string): string {
    return this.own(key) ? `${this.prefix}${key}` : key;
  }

  /** Whether `key` is this environment's own object, kept under `_env/<env>/`. */
  private own(key: string): boolean {
    return isPerEnvironmentKey(key) || (this.records && isRecordKey(key));
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(this.map(key));
  }
  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<PutResult> {
    return this.inner.put(this.map(key), body, options);
  }
  get(key: string): Promise<Readable> {
    return this.inner.get(this.map(key));
  }
  getBuffer(key: string): Promise<Buffer> {
    return this.inner.getBuffer(this.map(key));
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(this.map(key));
  }
  copy(fromKey: string, toKey: string, options?: Pick<PutOptions, "contentType" | "publicRead">) {
    return this.inner.copy(this.map(fromKey), this.map(toKey), options);
  }

  /**
   * The shared objects under `prefix` (without any environment's own keys) merged, in key order,
   * with this environment's own keys under it, shown at their unprefixed names.
   */
  async *list(prefix: string): AsyncIterable<ListedObject> {
    const own: ListedObject[] = [];
    for await (const object of this.inner.list(`${this.prefix}${prefix}`)) {
      own.push({ ...object, key: object.key.slice(this.prefix.length) });
    }
    own.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    let next = 0;
    // Every key under an environment's own records prefix is its own: nothing shared to merge.
    const shared = this.records && isRecordKey(prefix) ? [] : this.inner.list(prefix);
    for await (const object of shared) {
      if (object.key.startsWith(ENVIRONMENT_PREFIX) || this.own(object.key)) continue;
      while (next < own.length && (own[next]?.key ?? "") < object.key) yield own[next++] as ListedObject;
      yield object;
    }
    while (next < own.length) yield own[next++] as ListedObject;
  }

  probe(): Promise<void> {
    return this.inner.probe();
  }
  exists(): Promise<boolean> {
    return this.inner.exists();
  }
  create(): Promise<void> {
    return this.inner.create();
  }
  leftoverProbes(): Promise<string[]> {
    return this.inner.leftoverProbes();
  }
  removeLeftoverProbes(): Promise<number> {
    return this.inner.removeLeftoverProbes();
  }
  partialWrites() {
    return this.inner.partialWrites();
  }
  removePartialWrites(olderThanMs: number): Promise<number> {
    return this.inner.removePartialWrites(olderThanMs);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
