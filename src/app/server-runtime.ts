/**
 * The registry server runtime copied into every app repository: the bundle `npm run build`
 * writes to dist/server-bundle/ (scripts/build-server.mjs). The bundle holds the server, the
 * modules it shares with the CLI and its npm dependencies, so the app needs no `npm install`;
 * whether the server stays inside its boundary is checked when the bundle is built (and by
 * lint), not here.
 */
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { UserError } from "../errors.js";
import { SERVER_NODE_FLAGS } from "../server/workers.js";

/** Where the bundle is, relative to the package root. */
export const BUNDLE_DIR = path.join("dist", "server-bundle");
/** The entry point inside the bundle folder (and inside the app repository's server/ folder). */
export const BUNDLE_ENTRY = "main.js";

/** Node's arguments for the server: its own flags (SERVER_NODE_FLAGS), the bundle, its config. */
export function serverArgs(entry: string, configFile: string): string[] {
  return [...SERVER_NODE_FLAGS, entry, "--config", configFile];
}

/**
 * The command that runs the server inside an app repository or its image (`npm start`, the
 * Containerfile's CMD).
 */
export function serverCommand(): string[] {
  return ["node", ...serverArgs(`server/${BUNDLE_ENTRY}`, "registry.conf")];
}

/** The bundle's entry point in the package at `root`. */
export function serverEntry(root: string): string {
  return path.join(root, BUNDLE_DIR, BUNDLE_ENTRY);
}

/** Read the bundle folder of the package at `root` and return file name -> content. */
export async function loadServerRuntime(root: string): Promise<Map<string, Buffer>> {
  const dir = path.join(root, BUNDLE_DIR);
  const files = new Map<string, Buffer>();
  const names = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
    return undefined;
  });
  for (const entry of names ?? []) {
    if (entry.isFile() && !entry.name.endsWith(".map")) {
      files.set(entry.name, await readFile(path.join(dir, entry.name)));
    }
  }
  if (!files.has(BUNDLE_ENTRY)) {
    throw new UserError(`the registry server is not built: ${path.join(dir, BUNDLE_ENTRY)} is missing`, {
      hint: "Run `npm run build` in the raas package.",
    });
  }
  return files;
}

/** Replace `targetDir` with exactly the runtime files (stale files from older versions go). */
export async function writeServerRuntime(targetDir: string, files: Map<string, Buffer>): Promise<void> {
  await rm(targetDir, { recursive: true, force: true });
  await mkdir(targetDir, { recursive: true });
  for (const [name, data] of files) await writeFile(path.join(targetDir, name), data);
}
