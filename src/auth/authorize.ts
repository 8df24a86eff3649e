/**
 * The registry side: check a request's bearer token before serving a repository.
 *
 *   authorize(request, repository, action, tag?)   before every manifest/blob/tag request
 *   authorizeBase(request)                          GET /v2/ (clients learn the realm here)
 *   authorizeCatalog(request)                       GET /v2/_catalog (filter with canPull after)
 *
 * Outcomes: an AuthContext, or a RegistryAuthError: UNAUTHORIZED (401, with a Bearer challenge
 * naming the scope to ask for) when there is no usable token, DENIED (403) when the caller is
 * known and the policy says no. Verified tokens are cached until they expire (token-cache.ts:
 * keyed by digest, bounded by entries and bytes), so a pull's many requests cost one signature
 * check.
 */
import type { Action, Decision, Identity } from "./engine.js";
import { ANONYMOUS, explain } from "./engine.js";
import { bearerChallenge, repositoryScope } from "./challenge.js";
import { RegistryAuthError } from "./errors.js";
import type { Verifier } from "./jwt.js";
import { TokenInvalidError } from "./jwt.js";
import { parseBasic } from "./credentials.js";
import type { Policy } from "./policy.js";
import type { TokenService } from "./token-service.js";
import type { CachedToken } from "./token-cache.js";
import { TokenCache, tokenKey } from "./token-cache.js";

export type Caller = Identity | { readonly kind: "external"; readonly name: string };

export interface AuthContext {
  readonly caller: Caller;
  /** Whether a token was presented (false: anonymous access allowed by the policy). */
  readonly token: boolean;
}

export interface RequestLike {
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** For HTTP Basic: the client address the failed-login limits count. */
  readonly socket?: { readonly remoteAddress?: string | undefined };
}

export interface AuthorizerOptions {
  readonly realm: string;
  readonly service: string;
  readonly verify: Verifier;
  /**
   * Local mode: the policy, so anonymous pulls need no token, a known caller without the right
   * gets DENIED rather than another challenge, and tag rules apply to pushes. Omit in external
   * issuer mode: the external token's access claim is then the whole answer.
   */
  readonly policy?: () => Policy;
  /** The verified-token cache (default: 10,000 tokens, 16 MiB). */
  readonly cache?: TokenCache;
  readonly now?: () => Date;
  /**
   * Accept HTTP Basic directly on registry requests (local mode), for clients that send it
   * without asking for a token: pass the token service's basicLogin. Each request is then
   * decided by the policy.
   */
  readonly basicLogin?: TokenService["basicLogin"];
}

export interface Authorizer {
  authorize(request: RequestLike, repository: string, action: Action, tag?: string): Promise<AuthContext>;
  authorizeBase(request: RequestLike): Promise<AuthContext>;
  authorizeCatalog(request: RequestLike): Promise<AuthContext>;
  /** For catalog, tag lists and search: may this caller pull the repository? */
  canPull(context: AuthContext, repository: string): boolean;
}

const TOKEN_ACTION: Record<Action, string> = {
  pull: "pull",
  push: "push",
  promote: "push",
  delete: "delete",
};

/** The bearer token; undefined without an Authorization header; null when it is not a usable one. */
function bearer(request: RequestLike): string | undefined | null {
  const value = request.headers.authorization;
  if (typeof value !== "string") return undefined;
  // Cheap prefix test first: this runs on every registry request.
  if (value.length < 8 || value.slice(0, 7).toLowerCase() !== "bearer ") return null;
  const token = value.slice(7).trim();
  return token === "" ? null : token;
}

const TOKEN_RE = /^[A-Za-z0-9._~+/=-]+$/;

function callerOf(token: CachedToken): Caller {
  switch (token.kind) {
    case "user":
    case "service":
      return { kind: token.kind, name: token.subject };
    case "anonymous":
      return ANONYMOUS;
    default:
      return { kind: "external", name: token.subject };
  }
}

function grants(token: CachedToken, type: string, name: string, action: string): boolean {
  return token.access.some(
    (e) => e.type === type && e.name === name && (e.actions.includes(action) || e.actions.includes("*")),
  );
}

export function createAuthorizer(options: AuthorizerOptions): Authorizer {
  const cache = options.cache ?? new TokenCache();
  const now = options.now ?? (() => new Date());

  const challenge = (scope?: string, error?: "invalid_token" | "insufficient_scope") =>
    new RegistryAuthError(
      "UNAUTHORIZED",
      "authentication required",
      {
        "WWW-Authenticate": bearerChallenge({
          realm: options.realm,
          service: options.service,
          ...(scope === undefined ? {} : { scope }),
          ...(error === undefined ? {} : { error }),
        }),
      },
      scope === undefined
        ? undefined
        : [
            {
              Type: scope.split(":")[0],
              Name: scope.split(":").slice(1, -1).join(":"),
              Action: scope.split(":").at(-1),
            },
          ],
    );

  /**
   * A token verified before and still within its validity, else verified now. A cached token is
   * answered synchronously (one hash of the token, one map lookup): this is the hot path.
   */
  function verified(token: string, scope: () => string | undefined): CachedToken | Promise<CachedToken> {
    const key = tokenKey(token);
    return cache.get(key, now().getTime() / 1000) ?? verify(token, key, scope);
  }

  async function verify(token: string, key: string, scope: () => string | undefined): Promise<CachedToken> {
    // The character check runs only before a real verification; cached tokens passed it.
    if (!TOKEN_RE.test(token)) throw challenge(scope(), "invalid_token");
    const seconds = now().getTime() / 1000;
    try {
      const result = await options.verify(token, "access", now());
      if (seconds >= result.notBefore) cache.set(key, result);
      return result;
    } catch (err) {
      if (err instanceof TokenInvalidError) throw challenge(scope(), "invalid_token");
      throw err;
    }
  }

  function policyDecision(caller: Caller, action: Action, repository: string, tag?: string) {
    if (options.policy === undefined || caller.kind === "external") return undefined;
    return explain(options.policy(), caller, action, repository, tag);
  }

  /** The caller when the request carries valid HTTP Basic credentials and Basic is enabled. */
  async function basicCaller(
    request: RequestLike,
    scope: () => string | undefined,
  ): Promise<Identity | undefined> {
    const header = request.headers.authorization;
    if (options.basicLogin === undefined || options.policy === undefined || typeof header !== "string") {
      return undefined;
    }
    if (header.slice(0, 6).toLowerCase() !== "basic ") return undefined;
    const credentials = parseBasic(header);
    const result =
      credentials === undefined
        ? undefined
        : await options.basicLogin(
            credentials.username,
            credentials.secret,
            request.socket?.remoteAddress ?? "unknown",
          );
    if (result !== undefined && "retryAfter" in result) {
      throw new RegistryAuthError("TOOMANYREQUESTS", "too many failed logins; try again later", {
        "Retry-After": String(result.retryAfter),
      });
    }
    if (result === undefined) throw challenge(scope(), "invalid_token");
    return result;
  }

  const denied = (repository: string, action: Action, decision?: Decision, tag?: string) =>
    // A tag rule refusing a repository the caller may otherwise write says so (which tag, not
    // which rule or group), or a client sees a denial it cannot explain.
    decision?.rule.startsWith("tags[") === true && tag !== undefined
      ? new RegistryAuthError(
          "DENIED",
          `${TOKEN_ACTION[action]} of tag ${tag} in ${repository} is refused by a tag rule of the access policy`,
          {},
          [{ Type: "repository", Name: repository, Action: TOKEN_ACTION[action], Tag: tag }],
        )
      : new RegistryAuthError("DENIED", "requested access to the resource is denied", {}, [
          { Type: "repository", Name: repository, Action: TOKEN_ACTION[action] },
        ]);

  return {
    async authorize(request, repository, action, tag) {
      const tokenAction = TOKEN_ACTION[action];
      const scope = () => repositoryScope(repository, action === "pull" ? ["pull"] : ["pull", tokenAction]);
      const basic = await basicCaller(request, scope);
      if (basic !== undefined) {
        const decision = policyDecision(basic, action, repository, tag);
        if (decision?.allow !== true) throw denied(repository, action, decision, tag);
        return { caller: basic, token: false };
      }
      const raw = bearer(request);
      if (raw === null) throw challenge(scope(), "invalid_token");
      if (raw === undefined) {
        const decision = policyDecision(ANONYMOUS, action, repository, tag);
        if (decision?.allow === true) return { caller: ANONYMOUS, token: false };
        throw challenge(scope());
      }
      const found = verified(raw, scope);
      const token = found instanceof Promise ? await found : found;
      const caller = callerOf(token);
      if (!grants(token, "repository", repository, tokenAction)) {
        // A known caller the policy refuses gets DENIED; anyone else is told which scope to ask for.
        const decision = policyDecision(caller, action, repository, tag);
        if (decision !== undefined && !decision.allow && caller.kind !== "anonymous") {
          throw denied(repository, action);
        }
        throw challenge(scope(), "insufficient_scope");
      }
      if (tag !== undefined && action !== "pull") {
        const decision = policyDecision(caller, action, repository, tag);
        if (decision !== undefined && !decision.allow) throw denied(repository, action, decision, tag);
      }
      return { caller, token: true };
    },

    async authorizeBase(request) {
      const basic = await basicCaller(request, () => undefined);
      if (basic !== undefined) return { caller: basic, token: false };
      const raw = bearer(request);
      if (raw === undefined || raw === null) {
        throw challenge(undefined, raw === null ? "invalid_token" : undefined);
      }
      return { caller: callerOf(await verified(raw, () => undefined)), token: true };
    },

    async authorizeCatalog(request) {
      const scope = "registry:catalog:*";
      const raw = bearer(request);
      if (raw === null) throw challenge(scope, "invalid_token");
      if (raw === undefined) {
        if (options.policy !== undefined) return { caller: ANONYMOUS, token: false };
        throw challenge(scope);
      }
      const token = await verified(raw, () => scope);
      if (!grants(token, "registry", "catalog", "*")) throw challenge(scope, "insufficient_scope");
      return { caller: callerOf(token), token: true };
    },

    canPull(context, repository) {
      const decision = policyDecision(context.caller, "pull", repository);
      return decision?.allow === true;
    },
  };
}
