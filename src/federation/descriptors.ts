import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../adapters/files.js";
import * as v from "valibot";
import { isDigest, type Digest } from "../image/digest.js";
import { isV1Id } from "../image/v1.js";
import { tooDeep } from "../image/json-depth.js";
import type { HistoryEntry, VendorLayer } from "../image/v1-to-v2.js";
import { UserError } from "../errors.js";

type CachedLayer = Omit<VendorLayer, "url">;

/** The cache file, validated where it is read; layer ids are input keys, checked one by one. */
const CacheFile = v.looseObject({
  version: v.literal(1),
  layers: v.custom<Record<string, unknown>>((x) => typeof x === "object" && x !== null && !Array.isArray(x)),
});
const History = v.looseObject({
  created: v.optional(v.unknown()),
  created_by: v.optional(v.unknown()),
  author: v.optional(v.unknown()),
  comment: v.optional(v.unknown()),
});
const CachedEntry = v.looseObject({
  digest: v.custom<Digest>(isDigest),
  diffId: v.custom<Digest>(isDigest),
  size: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  // A history that is not an object was always ignored, not refused.
  history: v.optional(v.unknown()),
});

/**
 * The descriptor cache: for each vendor layer id, its v2 descriptor (gzip digest and size,
 * diff_id) and history entry. Fetching a vendor layer to learn these costs a full download,
 * so it happens once and the answer is kept here (`redhat/descriptors.json` in the config
 * repository, committed with the run, or under $RAAS_HOME). The URL is not cached: it always
 * comes from the current vendor metadata.
 */
export class DescriptorCache {
  private dirty = false;

  private constructor(
    readonly file: string,
    private readonly layers: Map<string, CachedLayer>,
  ) {}

  static async load(file: string): Promise<DescriptorCache> {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return new DescriptorCache(file, new Map());
      throw err;
    }
    const bad = (problem: string) =>
      new UserError(`descriptor cache ${file}: ${problem}`, {
        hint: "Delete the file; raas rebuilds it by fetching the vendor layers again.",
      });
    const deep = tooDeep(text);
    if (deep !== undefined) throw bad(deep);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw bad("not valid JSON");
    }
    const layers = new Map<string, CachedLayer>();
    if (!v.is(CacheFile, doc)) throw bad('expected {"version": 1, "layers": {...}}');
    for (const [id, value] of Object.entries(doc.layers)) {
      if (!isV1Id(id) || !v.is(CachedEntry, value)) {
        throw bad(`entry ${JSON.stringify(id)} is not a valid layer descriptor`);
      }
      const layer: CachedLayer = { digest: value.digest, diffId: value.diffId, size: value.size };
      if (v.is(History, value.history)) layer.history = cleanHistory(value.history);
      layers.set(id, layer);
    }
    return new DescriptorCache(file, layers);
  }

  get(id: string): CachedLayer | undefined {
    return this.layers.get(id);
  }

  set(id: string, layer: CachedLayer): void {
    this.layers.set(id, layer);
    this.dirty = true;
  }

  /** Writes the cache if it changed (atomically: a crash never leaves half a file). */
  async save(): Promise<boolean> {
    if (!this.dirty) return false;
    const layers = Object.fromEntries([...this.layers.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
    await mkdir(path.dirname(this.file), { recursive: true });
    await writeFileAtomic(this.file, `${JSON.stringify({ version: 1, layers }, null, 2)}\n`, {
      durable: true,
    });
    this.dirty = false;
    return true;
  }
}

function cleanHistory(value: v.InferOutput<typeof History>): HistoryEntry {
  const out: HistoryEntry = {};
  for (const key of ["created", "created_by", "author", "comment"] as const) {
    const text = value[key];
    if (typeof text === "string") out[key] = text;
  }
  return out;
}
