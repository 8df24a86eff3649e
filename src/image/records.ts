/**
 * Objects keyed by input (tags, repository names, image ids). A plain `{}` inherits from
 * Object.prototype: assigning `out["__proto__"] = x` changes its prototype instead of adding a
 * key, and reading `out["constructor"]` finds a function. A null-prototype object has neither
 * problem and still serialises, spreads and iterates like a plain one.
 */
export function emptyRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** `record[key]` when it is the record's own entry, never an inherited property. */
export function ownEntry<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** A JSON object (not null, not an array): untrusted JSON is narrowed with this, never cast. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
