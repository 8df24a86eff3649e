/**
 * Decoding of single 512-byte tar headers and pax extended-header records (ustar, GNU, pax).
 * Pure functions over buffers; the archive walk lives in tar-index.ts.
 */
export const BLOCK = 512;

export interface RawHeader {
  name: string;
  size: number;
  typeflag: string;
  linkName: string;
}

export type HeaderResult =
  { kind: "end" } | { kind: "bad"; problem: string } | { kind: "header"; header: RawHeader };

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? length : nul).toString("utf8");
}

/**
 * Numeric fields are octal text, or (GNU, for values that do not fit) big-endian base-256
 * flagged by the high bit of the first byte. Returns undefined for garbage.
 */
function numeric(block: Buffer, start: number, length: number): number | undefined {
  const first = block[start] ?? 0;
  if ((first & 0x80) !== 0) {
    if ((first & 0x40) !== 0) return undefined; // negative
    let value = first & 0x3f;
    for (let i = 1; i < length; i++) {
      value = value * 256 + (block[start + i] ?? 0);
      if (!Number.isSafeInteger(value)) return undefined;
    }
    return value;
  }
  const text = block
    .subarray(start, start + length)
    .toString("latin1")
    .replace(/[\0 ]+$/, "")
    .replace(/^ +/, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  return parseInt(text, 8);
}

function checksumMatches(block: Buffer): boolean {
  const stored = numeric(block, 148, 8);
  if (stored === undefined) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    // The checksum field itself counts as eight spaces.
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  // Some historic writers summed signed chars; accepting both is what GNU tar does.
  return stored === unsigned || stored === signed;
}

export function parseHeader(block: Buffer): HeaderResult {
  if (block.every((byte) => byte === 0)) return { kind: "end" };
  if (!checksumMatches(block)) return { kind: "bad", problem: "bad header checksum" };
  const size = numeric(block, 124, 12);
  if (size === undefined) return { kind: "bad", problem: "unreadable size field" };
  let name = cString(block, 0, 100);
  const magic = block.subarray(257, 263).toString("latin1");
  // POSIX ustar splits long names into prefix + name; GNU uses the prefix area for other data.
  if (magic === "ustar\0") {
    const prefix = cString(block, 345, 155);
    if (prefix !== "") name = `${prefix}/${name}`;
  }
  const typeflag = String.fromCharCode(block[156] ?? 0);
  return { kind: "header", header: { name, size, typeflag, linkName: cString(block, 157, 100) } };
}

/** Parses pax records ("<len> <key>=<value>\n"); returns undefined when malformed. */
export function parsePax(data: Buffer): Map<string, string> | undefined {
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // padding written by some tools
    const space = data.indexOf(0x20, pos);
    if (space < 0) return undefined;
    const lengthText = data.subarray(pos, space).toString("latin1");
    if (!/^[0-9]+$/.test(lengthText)) return undefined;
    const length = parseInt(lengthText, 10);
    const end = pos + length;
    if (length <= space - pos + 1 || end > data.length || data[end - 1] !== 0x0a) return undefined;
    const record = data.subarray(space + 1, end - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq <= 0) return undefined;
    records.set(record.slice(0, eq), record.slice(eq + 1));
    pos = end;
  }
  return records;
}

export function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}
