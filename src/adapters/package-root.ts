import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as path from "node:path";

/**
 * The raas package root (holding templates/ and dist/). This module sits two levels below it
 * both as source (src/adapters/) and built (dist/adapters/), so one relative step serves tests and users.
 */
export function packageRoot(): string {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  if (!existsSync(path.join(root, "package.json"))) {
    throw new Error(`cannot locate the raas package root from ${import.meta.url}`);
  }
  return path.resolve(root);
}
