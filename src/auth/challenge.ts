/**
 * `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` as registries answer a request that
 * needs a token (RFC 6750 parameters; `error` tells a client holding a token why it failed).
 */
export interface ChallengeOptions {
  readonly realm: string;
  readonly service: string;
  readonly scope?: string;
  readonly error?: "invalid_token" | "insufficient_scope";
}

/** Quoted-string per RFC 7230: backslash-escape `"` and `\`, drop control characters. */
function quote(value: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${value.replace(/[\u0000-\u001f\u007f]/g, "").replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

export function bearerChallenge(options: ChallengeOptions): string {
  const params = [`realm=${quote(options.realm)}`, `service=${quote(options.service)}`];
  if (options.scope !== undefined) params.push(`scope=${quote(options.scope)}`);
  if (options.error !== undefined) params.push(`error=${quote(options.error)}`);
  return `Bearer ${params.join(",")}`;
}

export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(",")}`;
}
