/**
 * The folders of src/ import each other in one direction only: the folder-level import graph
 * of the shipped code has no cycle, nor has it with the unit tests beside the code counted (a
 * test that needs a higher folder lives in test/). `node scripts/import-graph.mjs` prints the graph.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { packageRoot } from "../../src/adapters/package-root.js";
import { tempDir, writeTree } from "../helpers/git.js";

const SCRIPT = path.join(packageRoot(), "scripts", "import-graph.mjs");

function graph(...args: string[]) {
  const run = spawnSync(process.execPath, [SCRIPT, "--check", ...args], { encoding: "utf8" });
  return { status: run.status, edges: run.stdout.trim().split("\n"), stderr: run.stderr };
}

describe("the folder-level import graph of src/", () => {
  it("has no cycle", () => {
    const { status, edges, stderr } = graph();
    expect(stderr).toBe("");
    expect(status).toBe(0);
    // The graph is real: the pipeline's stages appear with the edges they are known for.
    expect(edges).toEqual(
      expect.arrayContaining(["cli -> commands", "commands -> publish", "app -> adapters"]),
    );
    expect(edges).not.toContain("app -> commands");
  });

  it("has no cycle with the unit tests in src/ counted", () => {
    // That --tests reads the tests' imports is proven on a tree of its own below.
    const { status, stderr } = graph("--tests");
    expect(stderr).toBe("");
    expect(status).toBe(0);
  });

  it("reports a cycle, whatever form the imports take, and ignores tests unless asked", async () => {
    const src = await tempDir();
    await writeTree(src, {
      "errors.ts": "export class UserError extends Error {}\n",
      "a/one.ts": 'import type { B } from "../b/two.js";\nimport { UserError } from "../errors.js";\n',
      "b/two.ts": 'export * from "../c/three.js";\nexport type B = string;\n',
      "c/three.ts": 'export const load = () => import("../d/four.js");\n',
      "d/four.ts": "export const four = 4;\n",
      "d/four.test.ts": 'import { load } from "../c/three.js";\n',
      "d/testing/fixture.ts": 'import "../../a/one.js";\n',
    });
    const clean = graph("--src", src);
    expect(clean.status).toBe(0);
    expect(clean.edges).toEqual(["a -> b", "a -> errors", "b -> c", "c -> d"]);

    const withTests = graph("--src", src, "--tests");
    expect(withTests.status).toBe(1);
    expect(withTests.edges).toEqual(["a -> b", "a -> errors", "b -> c", "c -> d", "d -> a", "d -> c"]);
    expect(withTests.stderr).toContain("cycle among folders: a, b, c, d");

    await writeTree(src, {
      "d/four.ts": 'import { UserError } from "../errors.js";\nimport "../b/two.js";\n',
    });
    const cyclic = graph("--src", src);
    expect(cyclic.status).toBe(1);
    expect(cyclic.stderr).toContain("cycle among folders: b, c, d");
  });
});
