/**
 * Token scopes, with the grammar of the Docker token specification:
 *   scope         := resourcescope [ ' ' resourcescope ]*
 *   resourcescope := resourcetype ':' resourcename ':' action [ ',' action ]*
 *   resourcetype  := [a-z0-9]+ [ '(' [a-z0-9]+ ')' ]
 * The name may itself contain ':' (a host with a port), so the type ends at the first ':' and the
 * actions start after the last one. Inputs are bounded; repeated scopes for one resource merge.
 */
export const MAX_SCOPES = 32;
export const MAX_SCOPE_LENGTH = 512;
const MAX_ACTIONS = 8;

const TYPE_RE = /^[a-z0-9]+(?:\([a-z0-9]+\))?$/;
const ACTION_RE = /^(?:[a-z]+|\*)$/;

export interface Scope {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

export class ScopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScopeError";
  }
}

function parseOne(text: string): Scope {
  if (text.length > MAX_SCOPE_LENGTH) {
    throw new ScopeError(`a scope is longer than ${MAX_SCOPE_LENGTH} characters`);
  }
  const first = text.indexOf(":");
  const last = text.lastIndexOf(":");
  if (first <= 0 || last === first) {
    throw new ScopeError("a scope must look like repository:<name>:<actions>");
  }
  const type = text.slice(0, first);
  const name = text.slice(first + 1, last);
  const actions = text.slice(last + 1).split(",");
  if (!TYPE_RE.test(type)) throw new ScopeError("a scope has an invalid resource type");
  if (name.length === 0) throw new ScopeError("a scope has an empty resource name");
  if (actions.length > MAX_ACTIONS || !actions.every((a) => ACTION_RE.test(a))) {
    throw new ScopeError("a scope has invalid actions");
  }
  return { type, name, actions };
}

/**
 * Parse `scope` values (each may hold several space-separated scopes). Throws ScopeError for
 * malformed input or more than MAX_SCOPES scopes.
 */
export function parseScopes(values: readonly string[]): Scope[] {
  const merged = new Map<string, { type: string; name: string; actions: Set<string> }>();
  let count = 0;
  for (const value of values) {
    if (value.length > MAX_SCOPE_LENGTH * MAX_SCOPES) throw new ScopeError("the scope parameter is too long");
    for (const text of value.split(" ")) {
      if (text === "") continue;
      if (++count > MAX_SCOPES) throw new ScopeError(`more than ${MAX_SCOPES} scopes in one request`);
      const scope = parseOne(text);
      const key = `${scope.type}\u0000${scope.name}`;
      const entry = merged.get(key) ?? { type: scope.type, name: scope.name, actions: new Set<string>() };
      for (const a of scope.actions) entry.actions.add(a);
      merged.set(key, entry);
    }
  }
  return [...merged.values()].map((e) => ({ type: e.type, name: e.name, actions: [...e.actions] }));
}

export function formatScope(scope: Scope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(",")}`;
}
