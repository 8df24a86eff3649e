/**
 * How deep a JSON document may nest. No image document comes near it (a config is about five
 * levels deep); a hostile one 20,000 levels deep would overflow the stack of whatever walks
 * or re-serialises it, so it is refused before it is parsed.
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * The deepest nesting of `[` and `{` outside strings, in one linear pass over the bytes
 * (the structural characters are ASCII, so UTF-8 needs no decoding). Stops counting once
 * `limit` is exceeded. Malformed JSON is JSON.parse's to report. A string is scanned by its
 * UTF-16 code units, which gives the same answer without encoding it: no byte of a multi-byte
 * UTF-8 sequence and no code unit of a non-ASCII character is one of the ASCII characters
 * counted, and an escape's next character is skipped either way.
 */
export function jsonDepth(input: Buffer | string, limit = MAX_JSON_DEPTH): number {
  const text = typeof input === "string";
  const length = input.length;
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < length; i++) {
    const byte = text ? input.charCodeAt(i) : input[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
      continue;
    }
    if (byte === QUOTE) inString = true;
    else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) depth = Math.max(0, depth - 1);
  }
  return deepest;
}

/** A sentence for an error message when `input` nests deeper than allowed, else undefined. */
export function tooDeep(input: Buffer | string, limit = MAX_JSON_DEPTH): string | undefined {
  return jsonDepth(input, limit) > limit
    ? `nests more than ${limit} levels deep (JSON documents of images never do)`
    : undefined;
}
