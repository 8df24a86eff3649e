/**
 * Python ConfigParser files, the format of Crane's config (the registry's registry.conf) and of
 * the original tool's raas.cfg: read with the `ini` package, after two small rewrites so those
 * files keep working: `key: value` lines, and values continued on indented lines (mask_layers
 * lists), which are joined with spaces. Shared by the CLI and the registry server.
 */
import { parse } from "ini";

export type Sections = Record<string, Record<string, string>>;

const KEY_LINE = /^[^\s;#[][^=:]*[=:]/;

function configParserCompat(text: string): string {
  const out: string[] = [];
  let inValue = false;
  for (const line of text.replace(/\r\n?/g, "\n").split("\n")) {
    const trimmed = line.trim();
    const isContinuation = inValue && /^\s/.test(line) && trimmed !== "" && !/^[;#]/.test(trimmed);
    if (isContinuation && !trimmed.includes("=")) {
      out[out.length - 1] += ` ${trimmed}`;
      continue;
    }
    if (trimmed.startsWith("[")) {
      // A dot in a section name would make `ini` nest sections; keep it literal so it is reported.
      out.push(trimmed.replace(/\./g, "\\."));
      inValue = false;
    } else if (KEY_LINE.test(trimmed)) {
      const colon = trimmed.indexOf(":");
      const equals = trimmed.indexOf("=");
      out.push(
        colon >= 0 && (equals < 0 || colon < equals)
          ? `${trimmed.slice(0, colon)}=${trimmed.slice(colon + 1)}`
          : trimmed,
      );
      inValue = true;
    } else {
      out.push(trimmed);
      if (trimmed === "") inValue = false;
    }
  }
  return out.join("\n");
}

/**
 * `ini` drops a `[__proto__]` section and a `__proto__` key without a word; a setting written so
 * is reported instead of silently ignored.
 */
function reportUnusableNames(compat: string, problem: (message: string) => void): void {
  let section = "";
  for (const line of compat.split("\n")) {
    const header = /^\[(.*)\]$/.exec(line);
    if (header !== null) {
      section = (header[1] ?? "").replace(/\\\./g, ".");
      if (section.split(".").includes("__proto__")) {
        problem(`[${section.slice(0, 200)}]: not a usable section name`);
      }
      continue;
    }
    const eq = line.indexOf("=");
    if (eq > 0 && line.slice(0, eq).trim().toLowerCase() === "__proto__") {
      problem(`[${section.slice(0, 200)}] __proto__: not a usable key`);
    }
  }
}

/**
 * Parse INI text into sections of string values. Keys are lower-cased (as configparser does);
 * anything that is not `section -> key -> scalar` is reported through `problem`.
 */
export function parseIni(text: string, problem: (message: string) => void): Sections {
  const compat = configParserCompat(text);
  reportUnusableNames(compat, problem);
  const parsed: Record<string, unknown> = parse(compat);
  // Without a prototype: a section or key called `constructor` or `toString` is a name like any
  // other, never a property every object inherits (which `??=` would have written into).
  const sections = Object.create(null) as Sections;
  // `ini` nests `[a.b]` as {a: {b: {...}}}; ConfigParser (and raas) read it as the section "a.b".
  const entries = Object.entries(parsed);
  const onlyNested = new Set<string>();
  for (const [name, body] of entries) {
    if (body == null || typeof body !== "object" || Array.isArray(body)) continue;
    const values = body as Record<string, unknown>;
    let nested = 0;
    for (const [key, value] of Object.entries(values)) {
      if (value != null && typeof value === "object" && !Array.isArray(value)) {
        entries.push([`${name}.${key}`, value]);
        delete values[key];
        nested++;
      }
    }
    if (nested > 0 && Object.keys(values).length === 0) onlyNested.add(name);
  }
  for (const [name, body] of entries) {
    if (onlyNested.has(name)) continue;
    if (body == null || typeof body !== "object" || Array.isArray(body)) {
      problem(`${name}: setting outside of any [section]`);
      continue;
    }
    const section: Record<string, string> =
      sections[name] ?? (sections[name] = Object.create(null) as Record<string, string>);
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      if (typeof value === "string" || typeof value === "boolean" || typeof value === "number") {
        // `ini` turns true/false into booleans; the value parsers want the text back.
        section[key.toLowerCase()] = String(value);
      } else if (value == null) {
        section[key.toLowerCase()] = "";
      } else {
        problem(`[${name}] ${key}: unsupported value (lists are written comma-separated, not as key[])`);
      }
    }
  }
  return sections;
}

const TRUE = new Set(["1", "yes", "true", "on"]);
const FALSE = new Set(["0", "no", "false", "off"]);

/** ConfigParser's booleans (getboolean), in any case; undefined for anything else. */
export function parseBoolean(text: string): boolean | undefined {
  const value = text.trim().toLowerCase();
  return TRUE.has(value) ? true : FALSE.has(value) ? false : undefined;
}
