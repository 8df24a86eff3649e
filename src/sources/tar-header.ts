import { Header, Pax } from "tar";

/**
 * Decoding of single 512-byte tar headers and pax extended-header records, by node-tar's
 * `Header` and `Pax` (ustar, GNU base-256 numbers, ustar name prefixes, pax keys). Only what
 * node-tar does not decide for us stays here: GNU tar's acceptance of signed checksums, and
 * refusing sizes that are not exact integers. The archive walk, with its offset index (which
 * node-tar's streaming parser cannot give), lives in tar-walk.ts.
 */
export const BLOCK = 512;

export interface RawHeader {
  name: string;
  size: number;
  /** The typeflag character as stored ("0", "5", "x", "L", ... or an unknown one). */
  typeflag: string;
  linkName: string;
}

export type HeaderResult =
  { kind: "end" } | { kind: "bad"; problem: string } | { kind: "header"; header: RawHeader };

/** Some historic writers summed signed chars; accepting both is what GNU tar does. */
function signedChecksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    sum += byte > 127 ? byte - 256 : byte;
  }
  return sum;
}

export function parseHeader(block: Buffer): HeaderResult {
  let header: Header;
  try {
    header = new Header(block);
  } catch {
    // node-tar throws on base-256 numbers that are negative or beyond 2^53, before the
    // checksum is compared; random bytes end here as often as at the checksum.
    return { kind: "bad", problem: "bad header checksum or unreadable numeric field" };
  }
  if (header.nullBlock) return { kind: "end" };
  if (!header.cksumValid && (header.cksum === undefined || header.cksum !== signedChecksum(block))) {
    return { kind: "bad", problem: "bad header checksum" };
  }
  const size = header.size;
  if (size === undefined || !Number.isSafeInteger(size)) {
    return { kind: "bad", problem: "unreadable size field" };
  }
  // node-tar names unknown types "Unsupported"; the stored character is kept for the message.
  const typeflag = header.typeKey === "Unsupported" ? String.fromCharCode(block[156] ?? 0) : header.typeKey;
  return {
    kind: "header",
    header: { name: header.path ?? "", size, typeflag, linkName: header.linkpath ?? "" },
  };
}

/** The pax records raas uses; undefined when a size record is not an exact byte count. */
export function parsePax(data: Buffer): { path?: string; linkPath?: string; size?: number } | undefined {
  const pax = Pax.parse(data.toString("utf8"));
  const out: { path?: string; linkPath?: string; size?: number } = {};
  if (pax.path !== undefined) out.path = pax.path;
  if (pax.linkpath !== undefined) out.linkPath = pax.linkpath;
  if (pax.size !== undefined) {
    if (!Number.isSafeInteger(pax.size)) return undefined;
    out.size = pax.size;
  }
  return out;
}

export function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}
