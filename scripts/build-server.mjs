/**
 * Builds the registry server as one file, dist/server-bundle/main.js, the only server code
 * `raas setup` copies into an app repository (and what the local platform runs).
 *
 * Every npm dependency is bundled: the app's container build then needs no `npm install`, so it
 * works on clusters that cannot reach the npm registry, and the app runs exactly the dependency
 * versions this raas was tested with. The bundle is about 1 MB (the AWS SDK is most of it); the licence notices of
 * bundled packages go beside it in main.js.LEGAL.txt and are shipped with it.
 *
 * The build is also the server's boundary check: it fails when anything the server reaches,
 * directly or through a shared module, is CLI-side code (the same folders the lint rule in
 * eslint.config.js forbids for direct imports) or a CLI-only package.
 *
 * Usage: node scripts/build-server.mjs (run by `npm run build` after tsc).
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** src/ folders that are the CLI side: the server must never reach them. */
export const CLI_FOLDERS = ["cli", "commands", "app", "config", "ui", "sources", "federation"];
/** src/adapters/ modules that drive the operator's machine (git, subprocesses). */
export const CLI_ADAPTERS = ["git", "git-errors", "exec"];
/** Packages only the CLI uses. */
export const CLI_PACKAGES = ["commander", "ora", "execa", "simple-git"];

function packageOf(input) {
  const rest = input.slice(input.lastIndexOf("node_modules/") + "node_modules/".length);
  const parts = rest.split("/");
  return parts[0]?.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
}

/**
 * What in an esbuild metafile's inputs crosses the boundary. `inputs` are paths as esbuild
 * reports them (relative to its working directory); `srcDir` is src/ relative to the same.
 */
export function boundaryViolations(inputs, srcDir = "src") {
  const prefix = `${srcDir.replace(/\/$/, "")}/`;
  const problems = [];
  for (const input of inputs) {
    if (input.includes("node_modules/")) {
      const pkg = packageOf(input);
      if (CLI_PACKAGES.includes(pkg)) problems.push(`the CLI-only package ${pkg} (${input})`);
      continue;
    }
    if (!input.startsWith(prefix)) continue;
    const rel = input.slice(prefix.length);
    const [folder, file = ""] = rel.split("/");
    if (CLI_FOLDERS.includes(folder ?? "")) problems.push(`CLI-side code ${input}`);
    else if (folder === "adapters" && CLI_ADAPTERS.includes(file.replace(/\.[cm]?[jt]s$/, ""))) {
      problems.push(`CLI-side code ${input}`);
    }
  }
  return problems;
}

/**
 * Bundle `entry` into `outdir`/main.js; throws (writing nothing) when the boundary is crossed.
 * Returns the bundled inputs.
 */
export async function buildServerBundle({ entry, outdir, srcDir, cwd }) {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: cwd,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    write: false,
    metafile: true,
    outfile: path.join(outdir, "main.js"),
    // Whitespace and syntax only: function names stay readable in stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: "linked",
    logLevel: "warning",
    // Bundled CommonJS packages call require() for node built-ins.
    banner: {
      js: 'import { createRequire as __raasCreateRequire } from "node:module"; const require = __raasCreateRequire(import.meta.url);',
    },
  });
  const inputs = Object.keys(result.metafile.inputs);
  const problems = boundaryViolations(inputs, srcDir);
  if (problems.length > 0) {
    throw new Error(
      `the registry server must not depend on the CLI side; it reaches:\n  ${problems.join("\n  ")}\n` +
        "Move what the server needs into a shared module (image/, crane/, storage/, publish/).",
    );
  }
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  for (const file of result.outputFiles) {
    await mkdir(path.dirname(file.path), { recursive: true });
    await writeFile(file.path, file.contents);
  }
  return inputs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  buildServerBundle({
    entry: "src/server/main.ts",
    outdir: path.join(root, "dist", "server-bundle"),
    srcDir: "src",
    cwd: root,
  }).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
