/**
 * Anchored glob patterns for repository names and tags.
 *   `*`  any run of characters except `/` (one path component or part of it)
 *   `**` any run of characters including `/` (any depth)
 *   `?`  one character except `/`
 * A pattern ending in `/**` also matches the name before it: `apps/demo/**` covers `apps/demo`.
 * Everything else is literal. Unlike an unanchored regex or Go's path.Match used by some token
 * servers, the whole name must match, and matching is a dynamic-programming walk (O(pattern x
 * name)) so no pattern can backtrack exponentially.
 */
export const MAX_PATTERN_LENGTH = 256;

type Token = { kind: "literal"; char: string } | { kind: "star" } | { kind: "globstar" } | { kind: "one" };

export interface Glob {
  readonly source: string;
  readonly tokens: readonly Token[];
  /** For `prefix/**`: the tokens of `prefix`, so the pattern also covers the prefix itself. */
  readonly self: readonly Token[] | undefined;
}

const PATTERN_RE = /^[A-Za-z0-9._\-/*?]+$/;

/** Undefined when the pattern is empty, too long or uses characters names never contain. */
export function compileGlob(source: string): Glob | undefined {
  if (source.length === 0 || source.length > MAX_PATTERN_LENGTH || !PATTERN_RE.test(source)) return undefined;
  const tokens: Token[] = [];
  for (let i = 0; i < source.length; i++) {
    const char = source[i] as string;
    if (char === "*") {
      if (source[i + 1] === "*") {
        while (source[i + 1] === "*") i++;
        tokens.push({ kind: "globstar" });
      } else {
        tokens.push({ kind: "star" });
      }
    } else if (char === "?") {
      tokens.push({ kind: "one" });
    } else {
      tokens.push({ kind: "literal", char });
    }
  }
  const last = tokens.at(-1);
  const slash = tokens.at(-2);
  const self =
    last?.kind === "globstar" && slash?.kind === "literal" && slash.char === "/"
      ? tokens.slice(0, -2)
      : undefined;
  return { source, tokens, self };
}

export function globMatches(glob: Glob, name: string): boolean {
  return run(glob.tokens, name) || (glob.self !== undefined && run(glob.self, name));
}

function run(tokens: readonly Token[], name: string): boolean {
  const n = name.length;
  // reach[j]: the tokens consumed so far can match name[0..j).
  let reach = new Uint8Array(n + 1);
  reach[0] = 1;
  for (const token of tokens) {
    const next = new Uint8Array(n + 1);
    if (token.kind === "star" || token.kind === "globstar") {
      let open = false;
      for (let j = 0; j <= n; j++) {
        if (reach[j]) open = true;
        if (open) next[j] = 1;
        // A single star cannot run across a slash.
        if (token.kind === "star" && name[j] === "/") open = false;
      }
    } else {
      for (let j = 0; j < n; j++) {
        if (!reach[j]) continue;
        const c = name[j];
        if (token.kind === "one" ? c !== "/" : c === token.char) next[j + 1] = 1;
      }
    }
    reach = next;
  }
  return reach[n] === 1;
}
