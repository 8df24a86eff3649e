import { readdirSync, readlinkSync } from "node:fs";

/** How many descriptors of this process are open on `path` (Linux /proc). */
export function descriptorsOpenOn(path: string): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false; // closed while listed
    }
  }).length;
}
