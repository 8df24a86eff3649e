/**
 * What `raas status` checks in storage. Storage is listed once (the whole store, or one
 * prefix per repository with `-a`), so 10,000 blobs cost a few LIST pages instead of 10,000
 * HEAD requests; only `--verify` and masked blobs (a HEAD of their vendor URL) touch objects.
 */
import { createHash } from "node:crypto";
import type { CraneV4, RaasExtension } from "../crane/types.js";
import { errorMessage } from "../errors.js";
import type { Digest } from "../image/digest.js";
import { blobKey, manifestKey, tagsListKey } from "../crane/keys.js";
import { mapLimit } from "../publish/pool.js";
import type { BlobStore, ListedObject } from "../storage/types.js";

/**
 * One repository's listed objects, kept compactly: a key, a size and a time each, in three
 * arrays sorted by key (a listing arrives sorted, so this costs nothing), looked up by binary
 * search. 310,000 objects (10,000 repositories x 10 tags) as a Map of listed objects held
 * about 90 MiB; this holds the key strings and 17 bytes per object more (a size, a time and
 * a mark).
 */
export class ListedObjects {
  private keys: string[] = [];
  private sizes: number[] = [];
  private times: number[] = [];
  private ordered = true;
  private marks: Uint8Array | undefined;

  add(object: ListedObject): void {
    // Marks are positions in the sorted listing: a listing is complete before anything is marked.
    if (this.marks !== undefined) throw new Error("a listed object was added after marking started");
    const last = this.keys[this.keys.length - 1];
    if (last !== undefined && !(last < object.key)) this.ordered = false;
    this.keys.push(object.key);
    this.sizes.push(object.size);
    this.times.push(object.lastModified.getTime());
  }

  /** How many objects (as a Map's size). */
  get size(): number {
    this.order();
    return this.keys.length;
  }

  has(key: string): boolean {
    return this.find(key) >= 0;
  }

  get(key: string): ListedObject | undefined {
    const at = this.find(key);
    return at < 0 ? undefined : this.at(at);
  }

  /**
   * Mark a listed object as referenced (the garbage line's mark phase): a byte per object
   * instead of a set of 100,000s of keys. False when the key is not listed.
   */
  mark(key: string): boolean {
    const at = this.find(key);
    if (at < 0) return false;
    this.marks ??= new Uint8Array(this.keys.length);
    this.marks[at] = 1;
    return true;
  }

  isMarked(key: string): boolean {
    const at = this.find(key);
    return at >= 0 && this.marks?.[at] === 1;
  }

  firstKey(): string | undefined {
    this.order();
    return this.keys[0];
  }

  /** Every object, in key order (each a new object: nothing keeps them). */
  *[Symbol.iterator](): Generator<ListedObject> {
    this.order();
    for (let i = 0; i < this.keys.length; i++) yield this.at(i);
  }

  private at(i: number): ListedObject {
    return {
      key: this.keys[i] ?? "",
      size: this.sizes[i] ?? 0,
      lastModified: new Date(this.times[i] ?? 0),
    };
  }

  private find(key: string): number {
    this.order();
    let low = 0;
    let high = this.keys.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const probe = this.keys[mid] as string;
      if (probe === key) return mid;
      if (probe < key) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  /** A listing out of order (or repeating a key: the later one counts) is sorted once. */
  private order(): void {
    if (this.ordered) return;
    const positions = this.keys.map((_, i) => i);
    // Stable: of equal keys the later listed comes last, and is the one kept.
    positions.sort((a, b) => {
      const x = this.keys[a] as string;
      const y = this.keys[b] as string;
      return x < y ? -1 : x > y ? 1 : a - b;
    });
    const kept = positions.filter((p, n) => this.keys[p] !== this.keys[positions[n + 1] ?? -1]);
    this.keys = kept.map((p) => this.keys[p] as string);
    this.sizes = kept.map((p) => this.sizes[p] as number);
    this.times = kept.map((p) => this.times[p] as number);
    this.ordered = true;
  }
}

/** Storage objects grouped by their first key segment (the repository). */
export type Inventory = Map<string, ListedObjects>;

export const PROBE_PREFIX = ".raas-probe/";

/** List storage: everything, or only the given repositories' prefixes. */
export async function takeInventory(store: BlobStore, repositories?: readonly string[]): Promise<Inventory> {
  const inventory: Inventory = new Map();
  let current: { repository: string; objects: ListedObjects } | undefined;
  const add = (object: ListedObject) => {
    const slash = object.key.indexOf("/");
    const repository = slash < 0 ? "" : object.key.slice(0, slash);
    // A listing is sorted: the repository is nearly always the previous object's.
    if (current?.repository !== repository) {
      let objects = inventory.get(repository);
      if (objects === undefined) inventory.set(repository, (objects = new ListedObjects()));
      current = { repository, objects };
    }
    current.objects.add(object);
  };
  if (repositories === undefined) {
    for await (const object of store.list("")) add(object);
  } else {
    await mapLimit(repositories, 8, async (repository) => {
      for await (const object of store.list(`${repository}/`)) add(object);
    });
  }
  return inventory;
}

export interface StorageProblem {
  detail: string;
  fix: string;
}

export interface RepositoryCheckOptions {
  verify: boolean;
  concurrency: number;
  /**
   * Image ids of the repository's Crane v1 file (Pulp exports): their
   * `<repository>/<id>/{ancestry,json,layer}` objects must all be stored, as the original
   * tool checked (the id set of the v1 file equals the id set in storage).
   */
  v1Ids?: ReadonlySet<string>;
  /** Called for each external request (masked-blob HEADs), for --log debug. */
  log?: (line: string) => void;
}

const V1_FILES = ["ancestry", "json", "layer"] as const;

const PUSH_AGAIN = "push the image again: raas uploads what is missing and keeps what is there";

/**
 * Compare one repository's metadata with its objects in storage: every blob present with the
 * right size (and hash, with --verify), masked blobs resolvable at their URL, every manifest
 * and tag stored, and nothing stored that no manifest references (reported, never deleted).
 */
export async function checkRepositoryStorage(
  meta: CraneV4 & { "x-raas": RaasExtension },
  objects: ListedObjects,
  store: BlobStore,
  options: RepositoryCheckOptions,
): Promise<{ problems: StorageProblem[]; garbage: StorageProblem[]; blobs: number; masked: number }> {
  const ext = meta["x-raas"];
  const repository = meta.repository;
  const problems: StorageProblem[] = [];
  const expected = new Set<string>([tagsListKey(repository)]);
  const stored: [Digest, number, string][] = [];
  const masked: [Digest, string][] = [];

  for (const [digest, record] of Object.entries(ext.blobs) as [Digest, { size: number; url?: string }][]) {
    if (record.url !== undefined) {
      masked.push([digest, record.url]);
      continue;
    }
    const key = blobKey(repository, digest);
    expected.add(key);
    const size = objects.get(key)?.size;
    if (size === undefined) {
      problems.push({
        detail: `blob ${digest} was deleted from storage (no object at ${key})`,
        fix: PUSH_AGAIN,
      });
    } else if (size !== record.size) {
      problems.push({
        detail: `blob ${digest} has ${size} bytes in storage (${key}), the metadata says ${record.size}`,
        fix: PUSH_AGAIN,
      });
    } else {
      stored.push([digest, size, key]);
    }
  }
  for (const [digest, record] of Object.entries(ext.manifests)) {
    const key = manifestKey(repository, record.mediaType, digest);
    expected.add(key);
    if (!objects.has(key)) {
      problems.push({
        detail: `manifest ${digest} is missing from storage (no object at ${key})`,
        fix: PUSH_AGAIN,
      });
    }
  }
  for (const [tag, digest] of Object.entries(ext.tags)) {
    const record = ext.manifests[digest];
    if (record === undefined) continue; // reported by the tag check
    const key = manifestKey(repository, record.mediaType, tag);
    expected.add(key);
    if (!objects.has(key)) {
      problems.push({ detail: `tag ${tag} is missing from storage (no object at ${key})`, fix: PUSH_AGAIN });
    }
  }
  for (const id of options.v1Ids ?? []) {
    for (const file of V1_FILES) {
      const key = `${repository}/${id}/${file}`;
      expected.add(key);
      if (!objects.has(key)) {
        problems.push({
          detail: `v1 image ${id} is missing its ${file} in storage (no object at ${key})`,
          fix: PUSH_AGAIN,
        });
      }
    }
  }
  // Not a fault: a deletion, or a push interrupted before its commit, leaves these for `raas gc`.
  const garbage: StorageProblem[] = [];
  for (const { key, size } of objects) {
    if (!expected.has(key)) {
      garbage.push({
        detail: `orphaned object ${key} (${size} bytes): no manifest or tag of ${meta["repo-registry-id"]} references it`,
        fix: "left by a deletion or an interrupted push; `raas gc` frees it once it is older than the grace period",
      });
    }
  }
  if (options.verify) {
    const corrupt = await mapLimit(stored, options.concurrency, async ([digest, , key]) => {
      const hash = createHash("sha256");
      for await (const chunk of await store.get(key)) hash.update(chunk as Buffer);
      const actual = `sha256:${hash.digest("hex")}`;
      return actual === digest
        ? undefined
        : `blob ${digest} is corrupt in storage: ${key} hashes to ${actual}`;
    });
    for (const detail of corrupt) {
      if (detail !== undefined) problems.push({ detail, fix: `delete the object, then ${PUSH_AGAIN}` });
    }
  }
  const unresolvable = await mapLimit(masked, options.concurrency, async ([digest, url]) => {
    const started = Date.now();
    try {
      const response = await fetch(url, {
        method: "HEAD",
        redirect: "follow",
        signal: AbortSignal.timeout(10_000),
      });
      options.log?.(
        `HEAD ${new URL(url).origin}${new URL(url).pathname} -> ${response.status} (${Date.now() - started} ms)`,
      );
      return response.ok
        ? undefined
        : `masked blob ${digest} does not resolve: ${url} answered ${response.status}`;
    } catch (error) {
      return `masked blob ${digest} does not resolve: ${url} (${errorMessage(error)})`;
    }
  });
  for (const detail of unresolvable) {
    if (detail !== undefined) {
      problems.push({
        detail,
        fix: "check the vendor's registry, or remove the layer from [redhat] mask_layers and push again",
      });
    }
  }
  return { problems, garbage, blobs: stored.length, masked: masked.length };
}
