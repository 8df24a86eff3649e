/**
 * Verified access tokens, kept until they expire so a pull's many requests cost one signature
 * check. A token may be as long as the HTTP header limit allows, so the cache keeps neither the
 * token nor its whole payload: the key is the token's SHA-256, the value only what authorizing
 * needs (kind, subject, access entries, validity). It is bounded by entries and by bytes (the key
 * and those strings), so many long tokens cost a known amount; the oldest entries go first.
 */
import { createHash } from "node:crypto";
import type { VerifiedToken } from "./jwt.js";

export type CachedToken = Pick<VerifiedToken, "kind" | "subject" | "access" | "expiresAt" | "notBefore">;

export interface TokenCacheOptions {
  /** At most this many tokens (default 10,000). */
  readonly maxEntries?: number;
  /** At most about this many bytes of keys and kept strings (default 16 MiB). */
  readonly maxBytes?: number;
}

/** What one entry costs besides its strings: the map slot and the objects (an estimate). */
const ENTRY_OVERHEAD = 160;
const ACCESS_OVERHEAD = 64;
/** Strings are counted at two bytes a character: V8 keeps non-Latin-1 text that way. */
const chars = (s: string) => 2 * s.length;

/** The key of a token: fixed length however long the token is. */
export function tokenKey(token: string): string {
  return createHash("sha256").update(token).digest("base64");
}

function costOf(key: string, token: CachedToken): number {
  let bytes = ENTRY_OVERHEAD + chars(key) + chars(token.subject);
  for (const entry of token.access) {
    bytes += ACCESS_OVERHEAD + chars(entry.type) + chars(entry.name);
    for (const action of entry.actions) bytes += 16 + chars(action);
  }
  return bytes;
}

export class TokenCache {
  private readonly entries = new Map<string, { token: CachedToken; bytes: number }>();
  private total = 0;
  readonly maxEntries: number;
  readonly maxBytes: number;

  constructor(options: TokenCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
  }

  /** The token cached under `key` while it is valid at `seconds` (Unix time); drops an expired one. */
  get(key: string, seconds: number): CachedToken | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined) return undefined;
    if (seconds >= hit.token.expiresAt) {
      this.drop(key);
      return undefined;
    }
    return seconds >= hit.token.notBefore ? hit.token : undefined;
  }

  /**
   * Keep the parts of `verified` authorizing needs. A token that alone would take more than an
   * eighth of the budget is not kept: it would push out many ordinary ones, and is verified anew.
   */
  set(key: string, verified: VerifiedToken): void {
    const token: CachedToken = {
      kind: verified.kind,
      subject: verified.subject,
      access: verified.access,
      expiresAt: verified.expiresAt,
      notBefore: verified.notBefore,
    };
    const bytes = costOf(key, token);
    this.drop(key);
    if (bytes > this.maxBytes / 8) return;
    while (this.entries.size >= this.maxEntries || this.total + bytes > this.maxBytes) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.drop(oldest);
    }
    this.entries.set(key, { token, bytes });
    this.total += bytes;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The estimated bytes held (keys and kept strings). */
  get bytes(): number {
    return this.total;
  }

  private drop(key: string): void {
    const hit = this.entries.get(key);
    if (hit === undefined) return;
    this.entries.delete(key);
    this.total -= hit.bytes;
  }
}
