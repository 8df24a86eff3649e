import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../crane/serialize.js";
import { isDigest } from "../image/digest.js";
import { isV1Id } from "../image/v1.js";
import { tooDeep } from "../image/json-depth.js";
import type { HistoryEntry, VendorLayer } from "../image/v1-convert.js";
import { UserError } from "../errors.js";

type CachedLayer = Omit<VendorLayer, "url">;

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
    const entries = (doc as { version?: unknown; layers?: unknown }).layers;
    if ((doc as { version?: unknown }).version !== 1 || typeof entries !== "object" || entries === null) {
      throw bad('expected {"version": 1, "layers": {...}}');
    }
    for (const [id, value] of Object.entries(entries as Record<string, unknown>)) {
      const v = value as Record<string, unknown>;
      if (
        !isV1Id(id) ||
        !isDigest(v.digest) ||
        !isDigest(v.diffId) ||
        !Number.isSafeInteger(v.size) ||
        (v.size as number) < 0
      ) {
        throw bad(`entry ${JSON.stringify(id)} is not a valid layer descriptor`);
      }
      const layer: CachedLayer = { digest: v.digest, diffId: v.diffId, size: v.size as number };
      if (typeof v.history === "object" && v.history !== null) layer.history = cleanHistory(v.history);
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
    await writeFileAtomic(this.file, `${JSON.stringify({ version: 1, layers }, null, 2)}\n`);
    this.dirty = false;
    return true;
  }
}

function cleanHistory(value: object): HistoryEntry {
  const out: HistoryEntry = {};
  for (const key of ["created", "created_by", "author", "comment"] as const) {
    const v = (value as Record<string, unknown>)[key];
    if (typeof v === "string") out[key] = v;
  }
  return out;
}
