import { Header } from "tar";
import { describe, expect, it } from "vitest";
import { BLOCK, parseHeader, parsePax } from "./tar-header.js";

function block(path: string, size: number, type: "File" | "Directory" = "File"): Buffer {
  const buf = Buffer.alloc(BLOCK);
  new Header({ path, size, type, mode: 0o644, mtime: new Date(0) }).encode(buf, 0);
  return buf;
}

function rechecksum(buf: Buffer, signed: boolean): void {
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of buf) sum += signed && byte > 127 ? byte - 256 : byte;
  buf.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "latin1");
}

describe("tar headers through node-tar", () => {
  it("reads name, size, type and link target", () => {
    const parsed = parseHeader(block("dir/a.txt", 5));
    expect(parsed).toEqual({
      kind: "header",
      header: { name: "dir/a.txt", size: 5, typeflag: "0", linkName: "" },
    });
    expect(parseHeader(Buffer.alloc(BLOCK))).toEqual({ kind: "end" });
  });

  it("accepts a checksum summed over signed bytes, as GNU tar does, and refuses a wrong one", () => {
    const buf = block("x", 1);
    buf.write("\u00e9", 0, "latin1"); // a byte over 127 in the name
    rechecksum(buf, true);
    expect(parseHeader(buf).kind).toBe("header");
    buf[0] = 0x41;
    expect(parseHeader(buf)).toEqual({ kind: "bad", problem: "bad header checksum" });
  });

  it("reads GNU base-256 sizes and refuses negative ones", () => {
    const buf = block("big", 0);
    const size = 9 * 1024 ** 3;
    buf.fill(0, 124, 136);
    buf[124] = 0x80;
    buf.writeUIntBE(size, 130, 6);
    rechecksum(buf, false);
    expect(parseHeader(buf)).toMatchObject({ kind: "header", header: { size } });
    buf.fill(0xff, 124, 136);
    rechecksum(buf, false);
    expect(parseHeader(buf).kind).toBe("bad");
  });

  it("keeps the stored character of an unsupported type for the message", () => {
    const buf = block("odd", 0);
    buf.write("Z", 156, "latin1");
    rechecksum(buf, false);
    expect(parseHeader(buf)).toMatchObject({ kind: "header", header: { typeflag: "Z" } });
  });

  it("reads pax path, linkpath and size, and refuses a size that is not an exact byte count", () => {
    const record = (k: string, v: string) => {
      const body = ` ${k}=${v}\n`;
      let n = body.length + 1;
      while (`${n}${body}`.length !== n) n++;
      return `${n}${body}`;
    };
    expect(
      parsePax(Buffer.from(record("path", "a/b") + record("linkpath", "c") + record("size", "42"))),
    ).toEqual({
      path: "a/b",
      linkPath: "c",
      size: 42,
    });
    expect(parsePax(Buffer.from(record("size", "1e300")))).toBeUndefined();
  });
});
