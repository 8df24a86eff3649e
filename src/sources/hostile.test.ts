import { lstat, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InputError } from "../errors.js";
import { badNameCases, hostileCases } from "../../test/helpers/hostile.js";
import { openImageSource } from "./index.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-hostile-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every path under root with its type, size and mtime: reading an input must change none of it. */
async function snapshot(root: string): Promise<string[]> {
  const lines: string[] = [];
  for (const name of await readdir(root, { recursive: true })) {
    const info = await lstat(join(root, name));
    lines.push(`${name} ${info.isDirectory() ? "d" : info.size} ${info.mtimeMs}`);
  }
  return lines.sort();
}

describe("hostile inputs", () => {
  it("has a corpus of at least 30 cases", () => {
    expect(hostileCases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(hostileCases.map((c) => [c.label, c] as const))("rejects %s", async (_label, hostile) => {
    const path = await hostile.build(dir);
    const before = await snapshot(dir);
    const err: unknown = await openImageSource(path).then(
      async (source) => {
        await source.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    const message = (err as InputError).message;
    expect(message.startsWith(`${path}: `)).toBe(true);
    expect(message).toMatch(hostile.expect);
    expect(await snapshot(dir)).toEqual(before);
  });

  // Names that break the grammar are dropped, not fatal: the image stays usable with --name/--tag.
  it.each(badNameCases.map((c) => [c.label, c] as const))("ignores names in %s", async (_label, hostile) => {
    const path = await hostile.build(dir);
    const source = await openImageSource(path);
    try {
      expect(source.images).toHaveLength(1);
      expect(source.images[0]?.refs).toEqual([]);
      expect(source.images[0]?.tags).toEqual([]);
      expect(source.warnings.length).toBeGreaterThan(0);
      expect(source.warnings.join("\n")).toMatch(hostile.expect);
    } finally {
      await source.close();
    }
  });
});
