/**
 * Parses a `WWW-Authenticate` challenge (RFC 7235 auth-params) as registries send it:
 * `Bearer realm="https://auth.example.com/token",service="registry",scope="repository:a/b:pull"`.
 */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

const PARAM_RE = /\s*([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/y;

export function parseChallenge(header: string): Challenge | undefined {
  const trimmed = header.trim().slice(0, 4096);
  const space = trimmed.indexOf(" ");
  const scheme = (space < 0 ? trimmed : trimmed.slice(0, space)).toLowerCase();
  if (!/^[a-z0-9_-]+$/.test(scheme)) return undefined;
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  const rest = space < 0 ? "" : trimmed.slice(space + 1);
  PARAM_RE.lastIndex = 0;
  let match: RegExpExecArray | null;
  while (PARAM_RE.lastIndex < rest.length && (match = PARAM_RE.exec(rest)) !== null) {
    const key = (match[1] ?? "").toLowerCase();
    const value = match[2] !== undefined ? match[2].replace(/\\(.)/g, "$1") : (match[3] ?? "");
    if (key !== "" && !Object.hasOwn(params, key)) params[key] = value;
    if (match[0] === "") break;
  }
  return { scheme, params };
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
}
