import { digestHex } from "../image/digest.js";
import type { Blob } from "../image/model.js";

/**
 * The masked set: layer ids or digests that belong to a vendor and are never uploaded.
 * An entry matches a layer by digest (`sha256:<hex>`), bare hex, or one of the layer's
 * aliases (the v1 image id of a `docker save` layer, a Pulp image id).
 */
export class MaskSet {
  private readonly entries: Set<string>;

  constructor(ids: Iterable<string>) {
    this.entries = new Set([...ids].map((id) => id.trim().toLowerCase()).filter((id) => id.length > 0));
  }

  get size(): number {
    return this.entries.size;
  }

  /** The mask entry that matches the layer, or undefined. */
  match(layer: Blob): string | undefined {
    const candidates = [layer.digest, digestHex(layer.digest), ...(layer.aliases ?? [])];
    return candidates.find((c) => this.entries.has(c.toLowerCase()));
  }
}
