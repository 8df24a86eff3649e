/**
 * What the v1 -> v2 conversion knows of each layer, shared by the converter and by image
 * federation (which describes the vendor's masked layers): the layer as the vendor hosts it,
 * and the v2 config history entry Docker's migration derives from a v1 image's `json`.
 */
import type { LayerDescriptor } from "./v1-layer.js";

/** A masked layer as the vendor hosts it. */
export interface VendorLayer extends LayerDescriptor {
  /** Where the vendor serves the gzip layer (`<vendor url>/<id>/layer`). */
  url: string;
  /** History entry from the vendor image's `json`, when known. */
  history?: HistoryEntry;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
}

/** Docker's v1 -> v2 migration: the command that made the layer, and when. */
export function historyOf(config: Record<string, unknown>): HistoryEntry {
  const entry: HistoryEntry = {};
  if (typeof config.created === "string") entry.created = config.created;
  if (typeof config.author === "string" && config.author !== "") entry.author = config.author;
  if (typeof config.comment === "string" && config.comment !== "") entry.comment = config.comment;
  const container = config.container_config;
  const cmd =
    typeof container === "object" && container !== null ? (container as { Cmd?: unknown }).Cmd : undefined;
  if (Array.isArray(cmd) && cmd.every((c) => typeof c === "string")) entry.created_by = cmd.join(" ");
  return entry;
}
