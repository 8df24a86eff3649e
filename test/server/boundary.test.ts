/**
 * The registry server is a unit with a checked boundary: lint rejects a direct import of
 * CLI-side code from src/server/, and the bundle build rejects anything CLI-side the server
 * reaches through other modules. Both are run here on deliberately bad code.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { describe, expect, it } from "vitest";
import { packageRoot } from "../../src/adapters/package-root.js";
import { boundaryViolations, buildServerBundle } from "../../scripts/build-server.mjs";
import { tempDir, writeTree } from "../helpers/git.js";

const root = packageRoot();

async function lint(file: string, code: string): Promise<string[]> {
  // The probes are not files of the TypeScript project, so they are linted without types
  // (type-aware rules off); the boundary rule needs none.
  const eslint = new ESLint({ cwd: root, overrideConfig: tseslint.configs.disableTypeChecked });
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  // Only the boundary rule: other rules may have their own opinion of these probes.
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === "no-restricted-imports")
    .map(
      (m) =>
        `${m.line} ${/must not (import CLI-side code|use CLI-only packages)/.exec(m.message)?.[0] ?? m.message}`,
    );
}

describe("the server boundary at lint time", () => {
  it("rejects CLI-side imports from the server, naming each line", async () => {
    const code = [
      'import { main } from "../cli/main.js";',
      'import { push } from "../commands/push.js";',
      'import { loadConfig } from "../config/load.js";',
      'import { ensureAppRepo } from "../app/app-repo.js";',
      'import { PlainReporter } from "../ui/plain.js";',
      'import ora from "ora";',
      'import { isDigest } from "../image/digest.js";',
      'import { createRegistryApp } from "./app.js";',
      "export const all = [main, push, loadConfig, ensureAppRepo, PlainReporter, ora, isDigest, createRegistryApp];",
      "",
    ].join("\n");
    expect(await lint("src/server/boundary-probe.ts", code)).toEqual([
      "1 must not import CLI-side code",
      "2 must not import CLI-side code",
      "3 must not import CLI-side code",
      "4 must not import CLI-side code",
      "5 must not import CLI-side code",
      "6 must not use CLI-only packages",
    ]);
  });

  it("rejects value imports of CLI-side code from the modules the server shares, allowing types", async () => {
    const code = [
      'import type { Reporter } from "../ui/reporter.js";',
      'import { loadConfig } from "../config/load.js";',
      "export const x: Reporter[] = [];\nexport const y = loadConfig;",
      "",
    ].join("\n");
    expect(await lint("src/crane/boundary-probe.ts", code)).toEqual(["2 must not import CLI-side code"]);
    expect(await lint("src/publish/publish.ts", code)).toEqual(["2 must not import CLI-side code"]);
  });

  it("lets the CLI side import what it likes", async () => {
    const code = 'import { loadConfig } from "../config/load.js";\nexport const x = loadConfig;\n';
    expect(await lint("src/commands/boundary-probe.ts", code)).toEqual([]);
  });
});

describe("the server boundary at build time", () => {
  it("fails the bundle when the server reaches the CLI side through a shared module", async () => {
    const dir = await tempDir();
    await writeTree(dir, {
      "src/server/main.ts": 'import { keyOf } from "../crane/keys.js";\nconsole.log(keyOf());\n',
      // A shared module that (wrongly) pulls in the CLI's config loader.
      "src/crane/keys.ts": 'import { home } from "../config/load.js";\nexport const keyOf = () => home;\n',
      "src/config/load.ts": 'export const home = "x";\n',
    });
    const outdir = path.join(dir, "dist", "server-bundle");
    await expect(
      buildServerBundle({ entry: "src/server/main.ts", outdir, srcDir: "src", cwd: dir }),
    ).rejects.toThrow(/must not depend on the CLI side[\s\S]*CLI-side code src\/config\/load\.ts/);
    expect(existsSync(outdir)).toBe(false);
  });

  it("names CLI-only packages and CLI adapters, and allows the shared INI reader in crane/", () => {
    expect(
      boundaryViolations([
        "src/server/main.ts",
        "src/crane/ini.ts",
        "src/config/load.ts",
        "node_modules/ini/lib/ini.js",
        "node_modules/@aws-sdk/client-s3/dist-es/index.js",
        "node_modules/ora/index.js",
        "src/adapters/exec.ts",
        "src/adapters/atomic-file.ts",
      ]),
    ).toEqual([
      "CLI-side code src/config/load.ts",
      "the CLI-only package ora (node_modules/ora/index.js)",
      "CLI-side code src/adapters/exec.ts",
    ]);
  });

  it("bundles the real server with its dependencies and nothing from the CLI side", async () => {
    const outdir = path.join(await tempDir(), "server-bundle");
    const inputs = await buildServerBundle({ entry: "src/server/main.ts", outdir, srcDir: "src", cwd: root });
    expect(inputs).toContain("src/server/main.ts");
    expect(inputs.some((i) => i.startsWith("src/crane/"))).toBe(true);
    expect(inputs.some((i) => i.includes("node_modules/@aws-sdk/client-s3/"))).toBe(true);
    expect(boundaryViolations(inputs)).toEqual([]);
    const bundle = await readFile(path.join(outdir, "main.js"), "utf8");
    // Only node built-ins are left to import at run time.
    const bare = [...bundle.matchAll(/(?:[}\w]\s*\bfrom\s*|\bimport\s*\(\s*)["']([^"']+)["']/g)].map(
      (m) => m[1],
    );
    expect(bare.filter((spec) => !spec?.startsWith("node:") && !/^[a-z_]+$/.test(spec ?? ""))).toEqual([]);
  });
});
