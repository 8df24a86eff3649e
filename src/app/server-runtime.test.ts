import { existsSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { UserError } from "../errors.js";
import { tempDir, writeTree } from "../../test/helpers/git.js";
import { loadServerRuntime, writeServerRuntime } from "./server-runtime.js";

const MINIMAL = {
  "server/main.js":
    'import { UserError } from "../errors.js";\nimport { decode } from "ini";\nimport "node:http";\n',
  "errors.js": "export class UserError extends Error {}\n",
  "crane/load.js": 'export { UserError } from "../errors.js";\n',
  "image/names.js": "export const x = 1;\n",
  "storage/s3-url.js": 'import { S3Client } from "@aws-sdk/client-s3";\n',
  "storage/types.js": "export const y = 1;\n",
  "web/index.js": "export const w = 1;\n",
};

describe("loadServerRuntime", () => {
  it("collects the server's files, leaving out tests, maps and fixtures", async () => {
    const dist = await tempDir();
    await writeTree(dist, {
      ...MINIMAL,
      "server/main.js.map": "{}",
      "server/app.test.js": "",
      "crane/testing/fixtures.js": "",
      "storage/s3.js": "not part of the server",
    });
    const files = await loadServerRuntime(dist);
    expect([...files.keys()].sort()).toEqual(Object.keys(MINIMAL).sort());
  });

  it("refuses a runtime whose imports would not resolve in the app", async () => {
    const dist = await tempDir();
    await writeTree(dist, {
      ...MINIMAL,
      "server/main.js": 'import { x } from "../ui/reporter.js";\nimport ora from "ora";\n',
    });
    await expect(loadServerRuntime(dist)).rejects.toThrow(
      /server\/main\.js imports \.\.\/ui\/reporter\.js\n\s+server\/main\.js imports the package ora/,
    );
  });

  it("tells the user to build when dist/ is missing", async () => {
    const err = await loadServerRuntime(path.join(await tempDir(), "dist")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).hint).toContain("npm run build");
  });
});

describe("writeServerRuntime", () => {
  it("replaces the folder exactly, so stale files from older versions go", async () => {
    const dist = await tempDir();
    await writeTree(dist, MINIMAL);
    const target = path.join(await tempDir(), "server");
    await writeTree(target, { "server/old.js": "stale" });
    await writeServerRuntime(target, await loadServerRuntime(dist));
    expect(existsSync(path.join(target, "server", "old.js"))).toBe(false);
    expect(existsSync(path.join(target, "server", "main.js"))).toBe(true);
  });
});
