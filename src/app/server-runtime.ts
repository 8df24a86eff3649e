/**
 * The registry server runtime copied into every app repository: the built dist/ folders the
 * server needs, in their relative layout so its imports resolve. Before anything is copied,
 * every import is checked: a relative one must point at a copied file, a bare one at a
 * dependency the app's package.json installs. A server that would crash in the container is
 * caught here, at setup, instead.
 */
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { UserError } from "../errors.js";

/** dist/-relative folders and files that make up the server. */
export const RUNTIME_PARTS = [
  "server",
  "crane",
  "image",
  "storage/s3-url.js",
  "storage/types.js",
  "errors.js",
  "web",
];
/** Packages the app's package.json installs; everything else must be a node: built-in. */
export const RUNTIME_DEPENDENCIES = ["@aws-sdk/client-s3", "@aws-sdk/s3-request-presigner", "ini"];

async function collect(distDir: string, rel: string, out: Map<string, string>): Promise<void> {
  const full = path.join(distDir, rel);
  if (rel.endsWith(".js")) {
    out.set(rel, await readFile(full, "utf8"));
    return;
  }
  for (const entry of await readdir(full, { withFileTypes: true })) {
    const child = `${rel}/${entry.name}`;
    // Test fixtures are built too; the server must not need them.
    if (entry.isDirectory() && entry.name !== "testing") await collect(distDir, child, out);
    else if (entry.isFile() && entry.name.endsWith(".js") && !entry.name.endsWith(".test.js")) {
      out.set(child, await readFile(path.join(distDir, child), "utf8"));
    }
  }
}

const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g;

function unresolvedImports(files: Map<string, string>): string[] {
  const problems: string[] = [];
  for (const [rel, source] of files) {
    for (const match of source.matchAll(IMPORT_RE)) {
      const spec = match[1] ?? "";
      if (spec.startsWith(".")) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec));
        if (!files.has(target)) problems.push(`${rel} imports ${spec}`);
      } else if (!spec.startsWith("node:")) {
        const pkg = spec.startsWith("@")
          ? spec.split("/").slice(0, 2).join("/")
          : (spec.split("/")[0] ?? spec);
        if (!RUNTIME_DEPENDENCIES.includes(pkg)) problems.push(`${rel} imports the package ${spec}`);
      }
    }
  }
  return problems;
}

/** Read the runtime from `distDir`, check it is self-contained, and return path -> source. */
export async function loadServerRuntime(distDir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  try {
    for (const part of RUNTIME_PARTS) await collect(distDir, part, files);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    throw new UserError(
      `the registry server is not built: ${(err as NodeJS.ErrnoException).path ?? distDir} is missing`,
      {
        hint: "Run `npm run build` in the raas package.",
        cause: err,
      },
    );
  }
  if (!files.has("server/main.js")) {
    throw new UserError(
      `the registry server is not built: ${path.join(distDir, "server", "main.js")} is missing`,
      {
        hint: "Run `npm run build` in the raas package.",
      },
    );
  }
  const problems = unresolvedImports(files);
  if (problems.length > 0) {
    throw new Error(`the registry server runtime is not self-contained:\n  ${problems.join("\n  ")}`);
  }
  return files;
}

/** Replace `targetDir` with exactly the runtime files (stale files from older versions go). */
export async function writeServerRuntime(targetDir: string, files: Map<string, string>): Promise<void> {
  await rm(targetDir, { recursive: true, force: true });
  for (const [rel, source] of files) {
    const file = path.join(targetDir, ...rel.split("/"));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, source);
  }
}
