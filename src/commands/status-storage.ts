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
 * One repository's listed objects, kept compactly. While the listing arrives they are three
 * arrays (keys, sizes, times); `seal()` (called when the listing moves on to the next
 * repository, or by the first lookup) turns them into bytes outside the JavaScript heap: the
 * keys' common prefix once, then every key's remainder back to back in one buffer, in byte
 * order (S3's listing order), with the sizes and times in one array of numbers. Lookups are a
 * binary search over the bytes. 310,000 objects (10,000 repositories x 10 tags) held about
 * 90 MiB of heap as a Map of listed objects and 37 MiB as arrays of key strings; this holds
 * about 30 MB, outside the heap the garbage collector lets grow to a multiple of what is live.
 */
export class ListedObjects {
  // Open: the objects as listed, in arrival order.
  private keys: string[] = [];
  private sizes: number[] = [];
  private times: number[] = [];
  // Sealed: the common prefix, the remainders' bytes, where each starts (one more: the end),
  // and each object's size and time (2 numbers per object).
  private sealed: { prefix: string; bytes: Buffer; starts: Uint32Array; numbers: Float64Array } | undefined;
  private marks: Uint8Array | undefined;

  add(object: ListedObject): void {
    // Marks are positions in the sorted listing: a listing is complete before anything is marked.
    if (this.marks !== undefined) throw new Error("a listed object was added after marking started");
    if (this.sealed !== undefined) this.unseal();
    this.keys.push(object.key);
    this.sizes.push(object.size);
    this.times.push(object.lastModified.getTime());
  }

  /** How many objects (as a Map's size). */
  get size(): number {
    return this.seal().starts.length - 1;
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
    this.marks ??= new Uint8Array(this.size);
    this.marks[at] = 1;
    return true;
  }

  isMarked(key: string): boolean {
    const at = this.find(key);
    return at >= 0 && this.marks?.[at] === 1;
  }

  firstKey(): string | undefined {
    return this.size === 0 ? undefined : this.keyAt(0);
  }

  /** Every object, in key order (each a new object: nothing keeps them). */
  *[Symbol.iterator](): Generator<ListedObject> {
    const count = this.size;
    for (let i = 0; i < count; i++) yield this.at(i);
  }

  /**
   * Turn the listed objects into their compact form, sorted by key; a key listed twice counts
   * once, as listed last. Lookups seal on their own; the listing seals each repository as soon
   * as it is complete, so the key strings of only one repository are alive at a time.
   */
  seal(): NonNullable<ListedObjects["sealed"]> {
    if (this.sealed !== undefined) return this.sealed;
    const encoded = this.keys.map((key) => Buffer.from(key, "utf8"));
    const positions = encoded.map((_, i) => i);
    let ordered = true;
    for (let i = 1; i < encoded.length && ordered; i++) {
      ordered = Buffer.compare(encoded[i - 1] as Buffer, encoded[i] as Buffer) < 0;
    }
    if (!ordered) {
      // Stable: of equal keys the later listed comes last, and is the one kept.
      positions.sort((a, b) => Buffer.compare(encoded[a] as Buffer, encoded[b] as Buffer) || a - b);
    }
    const kept = ordered
      ? positions
      : positions.filter((p, n) => {
          const next = positions[n + 1];
          return next === undefined || !(encoded[p] as Buffer).equals(encoded[next] as Buffer);
        });
    const prefix = commonPrefix(this.keys[kept[0] ?? -1], this.keys[kept[kept.length - 1] ?? -1]);
    const skip = Buffer.byteLength(prefix, "utf8");
    let total = 0;
    for (const p of kept) total += (encoded[p] as Buffer).length - skip;
    // Its own memory, exactly sized: a small buffer from the shared pool would keep a whole 8 KiB
    // slab alive for as long as the listing.
    const bytes = Buffer.allocUnsafeSlow(total);
    const starts = new Uint32Array(kept.length + 1);
    const numbers = new Float64Array(kept.length * 2);
    let used = 0;
    for (const [n, p] of kept.entries()) {
      starts[n] = used;
      used += (encoded[p] as Buffer).copy(bytes, used, skip);
      numbers[2 * n] = this.sizes[p] as number;
      numbers[2 * n + 1] = this.times[p] as number;
    }
    starts[kept.length] = used;
    this.keys = [];
    this.sizes = [];
    this.times = [];
    this.sealed = { prefix, bytes, starts, numbers };
    return this.sealed;
  }

  /** Back to arrays, for objects added after a lookup (never after marking). */
  private unseal(): void {
    const count = this.size;
    const keys: string[] = [];
    const sizes: number[] = [];
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const object = this.at(i);
      keys.push(object.key);
      sizes.push(object.size);
      times.push(object.lastModified.getTime());
    }
    this.sealed = undefined;
    this.keys = keys;
    this.sizes = sizes;
    this.times = times;
  }

  private keyAt(i: number): string {
    const { prefix, bytes, starts } = this.seal();
    return prefix + bytes.toString("utf8", starts[i], starts[i + 1]);
  }

  private at(i: number): ListedObject {
    const { numbers } = this.seal();
    return {
      key: this.keyAt(i),
      size: numbers[2 * i] as number,
      lastModified: new Date(numbers[2 * i + 1] as number),
    };
  }

  private find(key: string): number {
    const { prefix, bytes, starts } = this.seal();
    if (!key.startsWith(prefix)) return -1;
    const rest = prefix === "" ? key : key.slice(prefix.length);
    // Encoded into one reused buffer: a lookup per listed object (several, with the garbage
    // line) would otherwise allocate a buffer each.
    if (scratch.length < rest.length * 3) scratch = Buffer.allocUnsafeSlow(Math.max(1024, rest.length * 3));
    const length = scratch.write(rest, 0, "utf8");
    let low = 0;
    let high = starts.length - 2;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const order = bytes.compare(scratch, 0, length, starts[mid], starts[mid + 1]);
      if (order === 0) return mid;
      if (order < 0) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }
}

/** Where ListedObjects encodes the key it looks up (3 bytes per UTF-16 unit at most). */
let scratch = Buffer.allocUnsafeSlow(1024);

/**
 * The longest prefix two keys share (so every key sorted between them shares it), never ending
 * inside a surrogate pair.
 */
function commonPrefix(first: string | undefined, last: string | undefined): string {
  if (first === undefined || last === undefined) return "";
  let n = 0;
  while (n < first.length && n < last.length && first.charCodeAt(n) === last.charCodeAt(n)) n++;
  const end = first.charCodeAt(n - 1);
  if (n > 0 && end >= 0xd800 && end <= 0xdbff) n--;
  return first.slice(0, n);
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
      // A listing is complete for a repository when the next one starts (sorted listings).
      current?.objects.seal();
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
  for (const objects of inventory.values()) objects.seal();
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
