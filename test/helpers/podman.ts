import { join } from "node:path";

/**
 * Arguments that give podman throw-away storage of its own under `dir`: no overlay mounts (vfs),
 * so the test's temp dir can be removed afterwards, and nothing shared with the machine's podman.
 */
export function podmanStorage(dir: string): string[] {
  return ["--root", join(dir, "root"), "--runroot", join(dir, "run"), "--storage-driver", "vfs"];
}
