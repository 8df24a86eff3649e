/**
 * `json.dumps(value, sort_keys=True)` as Python 2 / Flask write it: separators `", "` and
 * `": "`, keys sorted, non-ASCII escaped as `\uXXXX`. Crane serves v1 `images` and `tags`
 * bodies in exactly this form, and clients have seen these bytes for a decade.
 */
export function pythonJson(value: unknown): string {
  if (value == null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  if (typeof value === "string") return pythonString(value);
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(", ")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${pythonString(k)}: ${pythonJson(v)}`).join(", ")}}`;
  }
  return "null";
}

function pythonString(s: string): string {
  // JSON.stringify escapes control characters the same way; only non-ASCII differs (ensure_ascii).
  return JSON.stringify(s).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
