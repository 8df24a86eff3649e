import { execFile } from "node:child_process";
import { mkdir, mkdtemp, open, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InputError } from "../errors.js";
import { header, writeTar, type TarEntry } from "../../test/helpers/tar-writer.js";
import { MAX_MEMBERS, NotTarError, TarIndex } from "./tar-index.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-tar-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function indexOf(entries: TarEntry[], options: { truncateTo?: number; endBlocks?: boolean } = {}) {
  const path = join(dir, "a.tar");
  await writeTar(path, entries, options);
  return TarIndex.open(path);
}

async function rejection(entries: TarEntry[], options: { truncateTo?: number } = {}): Promise<InputError> {
  const err: unknown = await indexOf(entries, options).then(
    async (index) => {
      await index.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  return err as InputError;
}

describe("TarIndex", () => {
  it("indexes members with offsets and streams exactly their bytes", async () => {
    const longName = `${"d".repeat(80)}/${"f".repeat(60)}.json`;
    const index = await indexOf([
      { name: "./", type: "directory" },
      { name: "./a.txt", data: "hello" },
      { name: "dir/", type: "directory" },
      { name: "dir/b.bin", data: Buffer.alloc(1500, 7) },
      { name: longName, data: "{}" },
      { name: "gnu/" + "g".repeat(120), data: "gnu", longNames: "gnu" },
      { name: "empty", data: "" },
    ]);
    try {
      expect(index.members().map((m) => m.name)).toEqual([
        "a.txt",
        "dir",
        "dir/b.bin",
        longName,
        "gnu/" + "g".repeat(120),
        "empty",
      ]);
      expect((await buffer(index.openMember("a.txt"))).toString()).toBe("hello");
      expect(await buffer(index.openMember("./dir/b.bin"))).toEqual(Buffer.alloc(1500, 7));
      expect((await index.readMember(longName, 10)).toString()).toBe("{}");
      expect((await buffer(index.openMember("gnu/" + "g".repeat(120)))).toString()).toBe("gnu");
      expect((await buffer(index.openMember("empty"))).length).toBe(0);
      await expect(index.readMember("dir/b.bin", 100)).rejects.toThrow(
        /1500 bytes, more than the 100-byte limit/,
      );
    } finally {
      await index.close();
    }
  });

  it("follows symlinks and hard links only inside the archive", async () => {
    const index = await indexOf([
      { name: "one/layer.tar", data: "layer-bytes" },
      { name: "two/layer.tar", type: "symlink", linkTarget: "../one/layer.tar" },
      { name: "three", type: "hardlink", linkTarget: "./one/layer.tar" },
      { name: "chain", type: "symlink", linkTarget: "two/layer.tar" },
    ]);
    try {
      for (const name of ["two/layer.tar", "three", "chain"]) {
        expect((await buffer(index.openMember(name))).toString()).toBe("layer-bytes");
      }
      expect(index.get("two/layer.tar")?.type).toBe("symlink");
      expect(index.lookup("missing")).toBeUndefined();
    } finally {
      await index.close();
    }
  });

  it.each([
    ["absolute symlink", [{ name: "l", type: "symlink", linkTarget: "/etc/passwd" }], /outside the archive/],
    ["climbing symlink", [{ name: "a/l", type: "symlink", linkTarget: "../../etc/passwd" }], /outside/],
    ["climbing hard link", [{ name: "l", type: "hardlink", linkTarget: "../x" }], /outside the archive/],
    [
      "symlink cycle",
      [
        { name: "a", type: "symlink", linkTarget: "b" },
        { name: "b", type: "symlink", linkTarget: "a" },
      ],
      /link cycle/,
    ],
    ["dangling", [{ name: "l", type: "symlink", linkTarget: "nowhere" }], /not in the archive/],
    [
      "to a directory",
      [
        { name: "d", type: "directory" },
        { name: "l", type: "symlink", linkTarget: "d" },
      ],
      /directory/,
    ],
  ] satisfies [string, TarEntry[], RegExp][])("rejects resolving a %s", async (_label, entries, pattern) => {
    const index = await indexOf(entries);
    try {
      const name = entries.at(-1)?.name ?? "";
      expect(() => index.resolve(name)).toThrow(pattern);
      expect(() => index.resolve(name)).toThrow(InputError);
    } finally {
      await index.close();
    }
  });

  it.each([
    ["absolute names", [{ name: "/etc/passwd", data: "x" }], /absolute member name/],
    ["dot-dot names", [{ name: "a/../../b", data: "x" }], /contains "\.\."/],
    [
      "duplicates",
      [
        { name: "a", data: "1" },
        { name: "./a", data: "2" },
      ],
      /duplicate entry "a"/,
    ],
    ["devices", [{ name: "dev", type: "char" }], /character device/],
    ["fifos", [{ name: "p", type: "fifo" }], /FIFO/],
    ["sparse files", [{ name: "s", typeflag: "S", data: "x" }], /unsupported tar entry type 'S'/],
    [
      "bad checksums",
      [
        { name: "a", data: "1" },
        { name: "b", data: "2", badChecksum: true },
      ],
      /bad header checksum/,
    ],
    [
      "huge pax headers",
      [{ name: "a", data: "1", pax: { comment: "x".repeat(1024 * 1024 + 1) } }],
      /extended header/,
    ],
    ["a link as root", [{ name: "./", type: "symlink", linkTarget: "x" }], /archive root/],
  ] satisfies [string, TarEntry[], RegExp][])("rejects %s", async (_label, entries, pattern) => {
    const err = await rejection(entries);
    expect(err.message).toMatch(pattern);
    expect(err.message.startsWith(join(dir, "a.tar"))).toBe(true);
  });

  it("rejects a truncated member and a truncated header", async () => {
    const entries: TarEntry[] = [{ name: "big", data: Buffer.alloc(4000, 1) }];
    expect((await rejection(entries, { truncateTo: 2000 })).message).toMatch(
      /truncated archive: member "big"/,
    );
    const two: TarEntry[] = [
      { name: "a", data: "1" },
      { name: "b", data: "2" },
    ];
    expect((await rejection(two, { truncateTo: 1024 + 100 })).message).toMatch(/incomplete header/);
  });

  it(`rejects more than ${MAX_MEMBERS} members`, async () => {
    const path = join(dir, "a.tar");
    const file = await open(path, "w");
    for (let batch = 0; batch <= MAX_MEMBERS; batch += 10_000) {
      const blocks: Buffer[] = [];
      for (let i = batch; i < batch + 10_000 && i <= MAX_MEMBERS; i++) {
        blocks.push(header({ name: `d${i}`, size: 0, typeflag: "5" }));
      }
      await file.write(Buffer.concat(blocks));
    }
    await file.close();
    await expect(TarIndex.open(path)).rejects.toThrow(`more than ${MAX_MEMBERS} members`);
  });

  it("accepts an archive without end blocks", async () => {
    const index = await indexOf([{ name: "a", data: "1" }], { endBlocks: false });
    expect(index.members()).toHaveLength(1);
    await index.close();
  });

  it("tells non-tar input and compressed input apart", async () => {
    const cases: [string, Buffer, RegExp][] = [
      ["empty", Buffer.alloc(0), /empty/],
      [
        "random",
        Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 7919) % 251)),
        /bad header checksum/,
      ],
      ["json", Buffer.from('{"not": "a tar"}'), /shorter than one tar header/],
    ];
    for (const [name, bytes, pattern] of cases) {
      const path = join(dir, name);
      await writeFile(path, bytes);
      const err: unknown = await TarIndex.open(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotTarError);
      expect((err as Error).message).toMatch(pattern);
    }
    const gz = join(dir, "x.tar.gz");
    await writeFile(gz, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]));
    await expect(TarIndex.open(gz)).rejects.toThrow(
      /is gzip-compressed; decompress it first \(gunzip x\.tar\.gz\)/,
    );
  });

  it("reads archives written by GNU tar, including long names and symlinks", async () => {
    const src = join(dir, "src");
    const deep = join(src, "x".repeat(90), "y".repeat(90));
    await mkdir(deep, { recursive: true });
    await writeFile(join(deep, "file.txt"), "deep");
    await symlink("y".repeat(90) + "/file.txt", join(src, "x".repeat(90), "link"));
    for (const format of ["gnu", "posix", "ustar"]) {
      const out = join(dir, `${format}.tar`);
      const run = promisify(execFile);
      const args = ["-C", src, `--format=${format}`, "-cf", out, "."];
      const failed = await run("tar", args).then(
        () => false,
        () => true,
      );
      if (failed) continue; // ustar cannot store a 181-byte name; the other formats must
      const index = await TarIndex.open(out);
      try {
        const name = `${"x".repeat(90)}/${"y".repeat(90)}/file.txt`;
        expect((await index.readMember(name, 100)).toString()).toBe("deep");
        expect((await index.readMember(`${"x".repeat(90)}/link`, 100)).toString()).toBe("deep");
      } finally {
        await index.close();
      }
    }
  });
});
