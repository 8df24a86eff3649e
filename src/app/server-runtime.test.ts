import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { UserError } from "../errors.js";
import { tempDir, writeTree } from "../../test/helpers/git.js";
import { loadServerRuntime, serverEntry, writeServerRuntime } from "./server-runtime.js";

const BUNDLE = {
  "dist/server-bundle/main.js": 'import "node:http";\n',
  "dist/server-bundle/main.js.LEGAL.txt": "notices\n",
};

describe("loadServerRuntime", () => {
  it("collects the bundle folder, leaving out source maps", async () => {
    const root = await tempDir();
    await writeTree(root, { ...BUNDLE, "dist/server-bundle/main.js.map": "{}", "dist/server/main.js": "" });
    const files = await loadServerRuntime(root);
    expect([...files.keys()].sort()).toEqual(["main.js", "main.js.LEGAL.txt"]);
    expect(files.get("main.js")?.toString()).toBe('import "node:http";\n');
  });

  it("tells the user to build when the bundle is missing", async () => {
    const root = await tempDir();
    await writeTree(root, { "dist/server/main.js": "an unbundled build is not enough" });
    const err = await loadServerRuntime(root).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toContain(serverEntry(root));
    expect((err as UserError).hint).toContain("npm run build");
  });
});

describe("writeServerRuntime", () => {
  it("replaces the folder exactly, so stale files from older versions go", async () => {
    const root = await tempDir();
    await writeTree(root, BUNDLE);
    const target = path.join(await tempDir(), "server");
    await writeTree(target, { "server/main.js": "the old multi-file layout", "errors.js": "stale" });
    await writeServerRuntime(target, await loadServerRuntime(root));
    expect(existsSync(path.join(target, "server"))).toBe(false);
    expect(existsSync(path.join(target, "errors.js"))).toBe(false);
    expect(await readFile(path.join(target, "main.js"), "utf8")).toBe('import "node:http";\n');
  });
});
