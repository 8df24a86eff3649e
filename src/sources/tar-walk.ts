import type { FileHandle } from "node:fs/promises";
import { basename } from "node:path";
import { InputError } from "../errors.js";
import { BLOCK, padded, parseHeader, parsePax } from "./tar-header.js";
import { checkArchiveName } from "./tar-names.js";

export type TarMemberType = "file" | "directory" | "symlink" | "hardlink";

export interface TarMember {
  /** Normalised: no leading "./", no trailing "/". */
  name: string;
  type: TarMemberType;
  size: number;
  /** Byte offset of the member's content in the archive. */
  offset: number;
  /** For links, the target exactly as stored. */
  linkTarget?: string;
}

export const MAX_MEMBERS = 200_000;
/** Bigger pax or GNU long-name headers are not names, they are an attack on memory. */
export const MAX_EXTENDED_HEADER = 1024 * 1024;

/** Thrown when the first header is not a tar header: the input is not a tar archive at all. */
export class NotTarError extends InputError {}

const COMPRESSED: ReadonlyArray<{ magic: number[]; kind: string; tool: string }> = [
  { magic: [0x1f, 0x8b], kind: "gzip", tool: "gunzip" },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], kind: "zstd", tool: "unzstd" },
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], kind: "xz", tool: "unxz" },
  { magic: [0x42, 0x5a, 0x68], kind: "bzip2", tool: "bunzip2" },
];

interface Pending {
  path?: string;
  linkPath?: string;
  size?: number;
}

export async function readExactly(
  handle: FileHandle,
  offset: number,
  length: number,
  path: string,
  what: string,
): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
    if (bytesRead === 0) throw new InputError(path, `"${what}" is truncated`);
    done += bytesRead;
  }
  return buffer;
}

async function rejectCompressed(path: string, handle: FileHandle, fileSize: number): Promise<void> {
  if (fileSize === 0) throw new NotTarError(path, "not a tar archive (the file is empty)");
  const head = Buffer.alloc(6);
  await handle.read(head, 0, Math.min(6, fileSize), 0);
  for (const { magic, kind, tool } of COMPRESSED) {
    if (magic.every((byte, i) => head[i] === byte)) {
      throw new InputError(path, `is ${kind}-compressed; decompress it first (${tool} ${basename(path)})`, {
        hint: "raas reads uncompressed tar archives, as written by docker save, skopeo and Pulp",
      });
    }
  }
}

/**
 * Reads 512-byte blocks through a 64 KiB window: archives of many small members would
 * otherwise cost one read call per header.
 */
class BlockReader {
  private readonly window = Buffer.alloc(64 * 1024);
  private start = 0;
  private length = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly fileSize: number,
  ) {}

  /** The block at offset, or undefined when fewer than 512 bytes remain. */
  async at(offset: number): Promise<Buffer | undefined> {
    if (offset + BLOCK > this.fileSize) return undefined;
    if (offset < this.start || offset + BLOCK > this.start + this.length) {
      const wanted = Math.min(this.window.length, this.fileSize - offset);
      const { bytesRead } = await this.handle.read(this.window, 0, wanted, offset);
      this.start = offset;
      this.length = bytesRead;
      if (bytesRead < BLOCK) return undefined;
    }
    return this.window.subarray(offset - this.start, offset - this.start + BLOCK);
  }
}

/** Walks the headers of an archive, skipping contents by size. */
export async function indexArchive(
  path: string,
  handle: FileHandle,
): Promise<{ byName: Map<string, TarMember>; complete: boolean }> {
  const fileSize = (await handle.stat()).size;
  await rejectCompressed(path, handle, fileSize);
  const byName = new Map<string, TarMember>();
  const blocks = new BlockReader(handle, fileSize);
  let offset = 0;
  let pending: Pending = {};
  let previous = "the start of the archive";
  let complete = false;
  const fail = (problem: string): never => {
    throw new InputError(path, problem);
  };

  while (offset < fileSize) {
    const block = await blocks.at(offset);
    if (block === undefined) {
      if (offset === 0) throw new NotTarError(path, "not a tar archive (shorter than one tar header)");
      throw new InputError(path, `truncated archive: incomplete header after ${previous}`);
    }
    const parsed = parseHeader(block);
    if (parsed.kind === "end") {
      complete = true;
      break;
    }
    if (parsed.kind === "bad") {
      if (offset === 0) throw new NotTarError(path, `not a tar archive (${parsed.problem})`);
      fail(`corrupt archive: ${parsed.problem} at byte ${offset}, after ${previous}`);
    }
    if (parsed.kind !== "header") break;
    const header = parsed.header;
    const extended = "xgLK".includes(header.typeflag);
    const size = extended ? header.size : (pending.size ?? header.size);
    const displayName = pending.path ?? header.name;
    const dataOffset = offset + BLOCK;
    if (dataOffset + size > fileSize) {
      fail(
        `truncated archive: member "${displayName}" declares ${size} bytes, only ${fileSize - dataOffset} remain`,
      );
    }
    offset = dataOffset + padded(size);

    if (extended) {
      if (size > MAX_EXTENDED_HEADER) {
        fail(`extended header of ${size} bytes before "${displayName}" (limit ${MAX_EXTENDED_HEADER})`);
      }
      if (header.typeflag === "g") continue; // global pax defaults carry nothing we use
      const data = await readExactly(handle, dataOffset, size, path, displayName);
      pending =
        applyExtended(header.typeflag, data, pending) ?? fail(`malformed pax header after ${previous}`);
      continue;
    }

    const rawName = displayName;
    const linkTarget = pending.linkPath ?? header.linkName;
    pending = {};
    const type = memberType(header.typeflag, rawName) ?? fail(describeUnsupported(header.typeflag, rawName));
    const check = checkArchiveName(rawName);
    if (!check.ok) fail(check.problem);
    const name = check.ok ? check.name : "";
    previous = `member "${rawName}"`;
    if (name === "") {
      if (type !== "directory") fail(`member "${rawName}" names the archive root but is not a directory`);
      continue;
    }
    const existing = byName.get(name);
    if (existing !== undefined) {
      if (existing.type === "directory" && type === "directory") continue;
      fail(`duplicate entry "${name}"`);
    }
    if (byName.size >= MAX_MEMBERS) fail(`more than ${MAX_MEMBERS} members`);
    const member: TarMember = { name, type, size: type === "file" ? size : 0, offset: dataOffset };
    if (type === "symlink" || type === "hardlink") member.linkTarget = linkTarget;
    byName.set(name, member);
  }
  return { byName, complete };
}

function applyExtended(typeflag: string, data: Buffer, pending: Pending): Pending | undefined {
  if (typeflag === "L" || typeflag === "K") {
    const nul = data.indexOf(0);
    const value = data.subarray(0, nul < 0 ? data.length : nul).toString("utf8");
    return typeflag === "L" ? { ...pending, path: value } : { ...pending, linkPath: value };
  }
  const records = parsePax(data);
  return records === undefined ? undefined : { ...pending, ...records };
}

function memberType(typeflag: string, name: string): TarMemberType | undefined {
  switch (typeflag) {
    case "0":
    case "\0":
    case "7":
      // Pre-POSIX tars mark directories only by a trailing slash.
      return name.endsWith("/") ? "directory" : "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "5":
      return "directory";
    default:
      return undefined;
  }
}

function describeUnsupported(typeflag: string, name: string): string {
  const kinds: Record<string, string> = { "3": "character device", "4": "block device", "6": "FIFO" };
  const kind = kinds[typeflag];
  if (kind !== undefined) return `member "${name}" is a ${kind}, which an image archive never contains`;
  const shown = /^[\x20-\x7e]$/.test(typeflag) ? `'${typeflag}'` : `0x${typeflag.charCodeAt(0).toString(16)}`;
  return `member "${name}" has unsupported tar entry type ${shown}`;
}
