/**
 * A small tar writer for tests: ustar headers, long names and link targets through pax
 * (or GNU 'L'/'K' on request), and the knobs to craft hostile members (any name, any
 * typeflag, lying sizes, wrong checksums). Large members stream from a generator.
 */
import { createWriteStream } from "node:fs";
import { truncate } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "char" | "block" | "fifo";

export interface TarSource {
  size: number;
  chunks(): Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

export interface TarEntry {
  name: string;
  type?: TarEntryType;
  /** Raw typeflag character; overrides `type`. */
  typeflag?: string;
  data?: Uint8Array | string;
  source?: TarSource;
  /** Size written in the header, when it should lie about the content. */
  declaredSize?: number;
  linkTarget?: string;
  mode?: number;
  /** Write this into the checksum field instead of the right value. */
  badChecksum?: boolean;
  /** Extra pax records (written in an 'x' header before the entry). */
  pax?: Record<string, string>;
  /** How to store names or link targets over 100 bytes. */
  longNames?: "pax" | "gnu";
}

const TYPEFLAGS: Record<TarEntryType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  directory: "5",
  fifo: "6",
};

const MTIME = 1_700_000_000;

function pad(size: number): number {
  return (512 - (size % 512)) % 512;
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(value.toString(8).padStart(length - 1, "0") + "\0", offset, length, "latin1");
}

export function header(fields: {
  name: string;
  size: number;
  typeflag: string;
  linkName?: string;
  mode?: number;
  badChecksum?: boolean;
}): Buffer {
  const block = Buffer.alloc(512);
  block.write(fields.name, 0, 100, "utf8");
  writeOctal(block, 100, 8, fields.mode ?? 0o644);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, MTIME);
  block.write(fields.typeflag, 156, 1, "latin1");
  block.write(fields.linkName ?? "", 157, 100, "utf8");
  block.write("ustar\0" + "00", 257, 8, "latin1");
  block.write("root", 265, 32);
  block.write("root", 297, 32);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  if (fields.badChecksum === true) sum += 1;
  block.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  return block;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length++;
  return `${length}${body}`;
}

function withPadding(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc(pad(data.length))]);
}

function contentSize(entry: TarEntry): number {
  if (entry.source !== undefined) return entry.source.size;
  if (entry.data === undefined) return 0;
  return typeof entry.data === "string" ? Buffer.byteLength(entry.data) : entry.data.length;
}

/** All header blocks of an entry: extended headers first, then the entry's own header. */
export function entryHeaders(entry: TarEntry): Buffer {
  const blocks: Buffer[] = [];
  const pax: Record<string, string> = { ...entry.pax };
  let name = entry.name;
  let linkName = entry.linkTarget ?? "";
  const gnu = entry.longNames === "gnu";
  if (Buffer.byteLength(name) > 100) {
    if (gnu) {
      const data = Buffer.from(name + "\0");
      blocks.push(header({ name: "././@LongLink", size: data.length, typeflag: "L" }), withPadding(data));
    } else {
      pax.path = name;
    }
    name = name.slice(0, 99);
  }
  if (Buffer.byteLength(linkName) > 100) {
    if (gnu) {
      const data = Buffer.from(linkName + "\0");
      blocks.push(header({ name: "././@LongLink", size: data.length, typeflag: "K" }), withPadding(data));
    } else {
      pax.linkpath = linkName;
    }
    linkName = linkName.slice(0, 99);
  }
  const records = Object.entries(pax).map(([key, value]) => paxRecord(key, value));
  if (records.length > 0) {
    const data = Buffer.from(records.join(""));
    blocks.unshift(header({ name: "PaxHeader/entry", size: data.length, typeflag: "x" }), withPadding(data));
  }
  blocks.push(
    header({
      name,
      size: entry.declaredSize ?? contentSize(entry),
      typeflag: entry.typeflag ?? TYPEFLAGS[entry.type ?? "file"],
      linkName,
      mode: entry.mode ?? (entry.type === "directory" ? 0o755 : 0o644),
      badChecksum: entry.badChecksum ?? false,
    }),
  );
  return Buffer.concat(blocks);
}

/** The exact archive size `tarChunks(entries)` produces. */
export function tarSize(entries: readonly TarEntry[], options: { endBlocks?: boolean } = {}): number {
  let total = 0;
  for (const entry of entries) {
    const size = contentSize(entry);
    total += entryHeaders(entry).length + size + pad(size);
  }
  return total + (options.endBlocks === false ? 0 : 1024);
}

export async function* tarChunks(
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
  options: { endBlocks?: boolean } = {},
): AsyncGenerator<Buffer> {
  for await (const entry of entries) {
    yield entryHeaders(entry);
    let written = 0;
    if (entry.source !== undefined) {
      for await (const chunk of entry.source.chunks()) {
        written += chunk.length;
        yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
      }
    } else if (entry.data !== undefined) {
      const data = typeof entry.data === "string" ? Buffer.from(entry.data) : Buffer.from(entry.data);
      written = data.length;
      yield data;
    }
    if (pad(written) > 0) yield Buffer.alloc(pad(written));
  }
  if (options.endBlocks !== false) yield Buffer.alloc(1024);
}

export function tarBuffer(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    if (entry.source !== undefined) throw new Error("tarBuffer: streamed entries need tarChunks()");
    const data = entry.data === undefined ? Buffer.alloc(0) : Buffer.from(entry.data);
    parts.push(entryHeaders(entry), withPadding(data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** Writes an archive; `truncateTo` cuts the finished file to that many bytes. */
export async function writeTar(
  path: string,
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
  options: { endBlocks?: boolean; truncateTo?: number } = {},
): Promise<void> {
  await pipeline(Readable.from(tarChunks(entries, options)), createWriteStream(path));
  if (options.truncateTo !== undefined) await truncate(path, options.truncateTo);
}
