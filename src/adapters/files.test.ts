import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../test/helpers/git.js";
import { writeFileAtomic, writeFileInside } from "./files.js";

describe("writeFileAtomic", () => {
  it("replaces the file by rename and leaves no temp files", async () => {
    const dir = await tempDir();
    const path = join(dir, "acme-app.json");
    await writeFile(path, "old");
    await writeFileAtomic(path, "new\n");
    expect(await readFile(path, "utf8")).toBe("new\n");
    await writeFileAtomic(path, "durable\n", { durable: true });
    expect(await readFile(path, "utf8")).toBe("durable\n");
    expect(await readdir(dir)).toEqual(["acme-app.json"]);
    await expect(writeFileAtomic(join(dir, "missing", "x.json"), "x")).rejects.toThrow(/ENOENT/);
    expect(await readdir(dir)).toEqual(["acme-app.json"]);
  });
});

describe("writeFileInside", () => {
  it("creates folders, leaves an unchanged file as it was and refuses paths outside the root", async () => {
    const dir = await tempDir();
    expect(await writeFileInside(dir, "data/acme-app.json", "{}\n")).toBe(true);
    const before = await stat(join(dir, "data", "acme-app.json"));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await writeFileInside(dir, "data/acme-app.json", Buffer.from("{}\n"))).toBe(false);
    expect((await stat(join(dir, "data", "acme-app.json"))).mtimeMs).toBe(before.mtimeMs);
    expect(await writeFileInside(dir, "data/acme-app.json", "{ }\n")).toBe(true);
    expect(await readFile(join(dir, "data", "acme-app.json"), "utf8")).toBe("{ }\n");
    expect(await readdir(join(dir, "data"))).toEqual(["acme-app.json"]);
    await expect(writeFileInside(dir, "../escape.json", "x")).rejects.toThrow(/escapes/);
    await expect(writeFileInside(dir, "/etc/escape.json", "x")).rejects.toThrow(/escapes/);
    expect(await readdir(join(dir, ".."))).not.toContain("escape.json");
  });
});
