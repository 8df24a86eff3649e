/**
 * The token endpoint of the Docker registry token protocol, independent of any HTTP framework:
 * `handle(request)` takes a plain request and returns status, headers and body.
 *
 *   GET  /token?service=…&scope=…[&scope=…][&offline_token=true&client_id=…]   HTTP Basic or anonymous
 *   POST /token  (application/x-www-form-urlencoded)                              OAuth2 form:
 *        grant_type=password&username=…&password=…&client_id=…[&access_type=offline][&scope=…]
 *        grant_type=refresh_token&refresh_token=…&client_id=…[&scope=…]
 *
 * The token grants the subset of the requested scopes that the policy allows (a request for more
 * than one may have is not an error, as in distribution). Failed logins are rate-limited per
 * attempted name and per client address; every failure answers the same way.
 */
import { createHmac, randomBytes } from "node:crypto";
import type { Action, Identity } from "./engine.js";
import { ANONYMOUS, grantedActions } from "./engine.js";
import type { AuthResponse } from "./errors.js";
import type { Authenticated } from "./credentials.js";
import { authenticate, currentStamp, MAX_LOGIN_NAME, parseBasic } from "./credentials.js";
import type { AccessEntry, Verifier } from "./jwt.js";
import { createVerifier, issueAccessToken, issueRefreshToken } from "./jwt.js";
import type { KeySet } from "./keys.js";
import type { Policy } from "./policy.js";
import { FailureLimiter, HashGate } from "./rate-limit.js";
import type { Scope } from "./scope.js";
import { formatScope, parseScopes, ScopeError } from "./scope.js";
import { isRepositoryName } from "../image/names.js";

export interface TokenRequest {
  readonly method: string;
  /** Path and query, e.g. `/token?service=registry&scope=repository:a/b:pull`. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The request body (POST), already bounded by the caller (see MAX_FORM_BYTES). */
  readonly body?: string;
  readonly remoteAddress: string;
}

export const MAX_FORM_BYTES = 64 * 1024;

export interface TokenServiceOptions {
  /** The current policy (a getter, so a reloaded policy applies to the next request). */
  readonly policy: () => Policy;
  readonly keys: KeySet;
  readonly issuer: string;
  readonly service: string;
  readonly ttlSeconds?: number;
  /** Failed logins allowed per attempted name per window (default 10 per 5 minutes). */
  readonly perIdentity?: FailureLimiter;
  /** Failed logins allowed per client address per window (default 30 per 5 minutes). */
  readonly perAddress?: FailureLimiter;
  readonly now?: () => Date;
}

export interface TokenService {
  handle(request: TokenRequest): Promise<AuthResponse>;
  /**
   * HTTP Basic straight on a registry request (no token): the same checks, limits and
   * verified-login cache as the token endpoint. `{ retryAfter }` when the login is locked.
   */
  basicLogin(
    username: string,
    secret: string,
    remoteAddress: string,
  ): Promise<Authenticated["identity"] | { retryAfter: number } | undefined>;
  /**
   * The same check for other front doors (the web page's login form): identity and credential
   * stamp, `{ retryAfter }` when locked, undefined when refused (counted as a failed login).
   */
  checkLogin: (
    username: string,
    secret: string,
    remoteAddress: string,
  ) => Promise<Authenticated | { retryAfter: number } | undefined>;
}

// A Map, not an object: an action named "constructor" must look up nothing.
const REPOSITORY_ACTIONS = new Map<string, readonly Action[]>([
  ["pull", ["pull"]],
  ["push", ["push"]],
  ["delete", ["delete"]],
  ["*", ["pull", "push", "delete"]],
]);

function json(status: number, value: unknown, headers: Record<string, string> = {}): AuthResponse {
  return {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers },
    body: JSON.stringify(value),
  };
}

function header(request: TokenRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return typeof value === "string" ? value : undefined;
}

/** The granted subset, in the Docker `access` claim format. */
export function grant(policy: Policy, identity: Identity, scopes: readonly Scope[]): AccessEntry[] {
  const access: AccessEntry[] = [];
  for (const scope of scopes) {
    if (scope.type === "registry" && scope.name === "catalog") {
      // The catalog itself filters what the caller may pull; the scope only opens the endpoint.
      if (scope.actions.includes("*")) access.push({ type: "registry", name: "catalog", actions: ["*"] });
      continue;
    }
    if (scope.type !== "repository" || !isRepositoryName(scope.name)) continue;
    const wanted = new Set<Action>();
    for (const a of scope.actions) for (const action of REPOSITORY_ACTIONS.get(a) ?? []) wanted.add(action);
    const actions = grantedActions(policy, identity, scope.name, wanted);
    if (actions.length > 0) access.push({ type: "repository", name: scope.name, actions });
  }
  return access;
}

export function createTokenService(options: TokenServiceOptions): TokenService {
  const perIdentity = options.perIdentity ?? new FailureLimiter({ maxFailures: 10, windowMs: 5 * 60_000 });
  const perAddress = options.perAddress ?? new FailureLimiter({ maxFailures: 30, windowMs: 5 * 60_000 });
  const gate = new HashGate();
  // Logins verified in the last minute, keyed by a keyed hash of name and secret (no secret is
  // kept): clients send Basic credentials for every pull, and scrypt is deliberately slow. An
  // entry is used only while the stored credential is unchanged (its stamp still matches).
  const cacheKey = randomBytes(32);
  const verified = new Map<string, { result: Authenticated; until: number }>();
  const VERIFIED_TTL_MS = 60_000;
  const VERIFIED_MAX = 1000;
  const now = options.now ?? (() => new Date());
  const verifyRefresh: Verifier = createVerifier({
    keys: options.keys,
    issuer: options.issuer,
    service: options.service,
  });
  const issue = {
    issuer: options.issuer,
    service: options.service,
    ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
  };

  const unauthorized = (oauth: boolean) =>
    oauth
      ? json(401, { error: "invalid_grant", error_description: "invalid username or password" })
      : json(
          401,
          { errors: [{ code: "UNAUTHORIZED", message: "invalid username or password" }] },
          {
            "WWW-Authenticate": `Basic realm="${options.service.replace(/["\\]/g, "")}"`,
          },
        );
  const badRequest = (oauth: boolean, message: string) =>
    oauth
      ? json(400, { error: "invalid_request", error_description: message })
      : json(400, { errors: [{ code: "UNSUPPORTED", message }] });
  const tooMany = (seconds: number) =>
    json(
      429,
      { errors: [{ code: "TOOMANYREQUESTS", message: "too many failed logins; try again later" }] },
      {
        "Retry-After": String(seconds),
      },
    );

  /** Rate limit, check, and count failures; a Response means stop. */
  async function login(
    name: string,
    secret: string,
    address: string,
    oauth: boolean,
  ): Promise<Authenticated | AuthResponse> {
    const t = now().getTime();
    const nameKey = name.slice(0, MAX_LOGIN_NAME);
    const wait = Math.max(perIdentity.retryAfter(nameKey, t), perAddress.retryAfter(address, t));
    if (wait > 0) return tooMany(wait);
    const key = createHmac("sha256", cacheKey)
      .update(name)
      .update("\u0000")
      .update(secret)
      .digest("base64url");
    const hit = verified.get(key);
    if (hit !== undefined && hit.until > t) {
      const { kind, name: login } = hit.result.identity;
      if (currentStamp(options.policy(), kind, login) === hit.result.stamp) return hit.result;
    }
    if (hit !== undefined) verified.delete(key);
    const ran = await gate.run(() => authenticate(options.policy(), name, secret));
    if (ran === undefined) return tooMany(1);
    const result = ran.value;
    if (result === undefined) {
      perIdentity.fail(nameKey, t);
      perAddress.fail(address, t);
      return unauthorized(oauth);
    }
    perIdentity.reset(nameKey);
    if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value as string);
    verified.set(key, { result, until: t + VERIFIED_TTL_MS });
    return result;
  }

  async function tokenBody(
    identity: Identity,
    scopes: Scope[],
    oauth: boolean,
    refresh?: { stamp: string; clientId: string },
  ) {
    const access = grant(options.policy(), identity, scopes);
    const issued = await issueAccessToken(
      options.keys,
      { ...issue, now: now() },
      identityClaim(identity),
      access,
    );
    const body: Record<string, unknown> = oauth
      ? {
          access_token: issued.token,
          scope: access.map(formatScope).join(" "),
          expires_in: issued.expiresIn,
          issued_at: issued.issuedAt,
        }
      : {
          token: issued.token,
          access_token: issued.token,
          expires_in: issued.expiresIn,
          issued_at: issued.issuedAt,
        };
    if (refresh !== undefined && identity.kind !== "anonymous") {
      const r = await issueRefreshToken(
        options.keys,
        { ...issue, now: now() },
        identity,
        refresh.stamp,
        refresh.clientId,
      );
      body.refresh_token = r.token;
    }
    return json(200, body);
  }

  async function handleGet(request: TokenRequest, params: URLSearchParams): Promise<AuthResponse> {
    const service = params.get("service");
    if (service !== null && service !== options.service) return badRequest(false, "unknown service");
    const scopes = parseScopes(params.getAll("scope"));
    const auth = header(request, "authorization");
    if (auth === undefined) return tokenBody(ANONYMOUS, scopes, false);
    const basic = parseBasic(auth);
    if (basic === undefined) return unauthorized(false);
    const result = await login(basic.username, basic.secret, request.remoteAddress, false);
    if (!("identity" in result)) return result;
    const offline = params.get("offline_token") === "true";
    const clientId = (params.get("client_id") ?? "").slice(0, 128);
    return tokenBody(result.identity, scopes, false, offline ? { stamp: result.stamp, clientId } : undefined);
  }

  async function handlePost(request: TokenRequest): Promise<AuthResponse> {
    const type = (header(request, "content-type") ?? "").split(";")[0]?.trim().toLowerCase();
    if (type !== "application/x-www-form-urlencoded") {
      return badRequest(true, "expected an application/x-www-form-urlencoded form");
    }
    const body = request.body ?? "";
    if (Buffer.byteLength(body) > MAX_FORM_BYTES) return badRequest(true, "form too large");
    const form = new URLSearchParams(body);
    const service = form.get("service");
    if (service !== null && service !== options.service) return badRequest(true, "unknown service");
    const clientId = form.get("client_id");
    if (clientId === null || clientId === "" || clientId.length > 128) {
      return badRequest(true, "client_id is required");
    }
    const scopes = parseScopes(form.getAll("scope"));
    const grantType = form.get("grant_type");
    if (grantType === "password") {
      const username = form.get("username");
      const password = form.get("password");
      if (username === null || password === null) {
        return badRequest(true, "username and password are required");
      }
      const result = await login(username, password, request.remoteAddress, true);
      if (!("identity" in result)) return result;
      const offline = form.get("access_type") === "offline";
      return tokenBody(
        result.identity,
        scopes,
        true,
        offline ? { stamp: result.stamp, clientId } : undefined,
      );
    }
    if (grantType === "refresh_token") {
      const token = form.get("refresh_token");
      if (token === null) return badRequest(true, "refresh_token is required");
      const t = now().getTime();
      const wait = perAddress.retryAfter(request.remoteAddress, t);
      if (wait > 0) return tooMany(wait);
      const identity = await checkRefresh(token, clientId);
      if (identity === undefined) {
        perAddress.fail(request.remoteAddress, t);
        return json(401, { error: "invalid_grant", error_description: "invalid or expired refresh token" });
      }
      return tokenBody(identity, scopes, true);
    }
    return json(400, { error: "unsupported_grant_type" });
  }

  async function checkRefresh(token: string, clientId: string): Promise<Identity | undefined> {
    try {
      const verified = await verifyRefresh(token, "refresh", now());
      const kind = verified.kind;
      if (kind !== "user" && kind !== "service") return undefined;
      const stamp = currentStamp(options.policy(), kind, verified.subject);
      if (stamp === undefined || stamp !== verified.claims.cred || verified.claims.client_id !== clientId) {
        return undefined;
      }
      return { kind, name: verified.subject };
    } catch {
      return undefined;
    }
  }

  async function checkLogin(
    username: string,
    secret: string,
    remoteAddress: string,
  ): Promise<Authenticated | { retryAfter: number } | undefined> {
    const result = await login(username, secret, remoteAddress, false);
    if ("identity" in result) return result;
    if (result.status === 429) return { retryAfter: Number(result.headers["Retry-After"] ?? "1") };
    return undefined;
  }

  return {
    checkLogin,
    async basicLogin(username, secret, remoteAddress) {
      const result = await checkLogin(username, secret, remoteAddress);
      return result !== undefined && "identity" in result ? result.identity : result;
    },
    async handle(request) {
      let url: URL;
      try {
        url = new URL(request.url, "http://token.invalid");
      } catch {
        return badRequest(false, "malformed request URL");
      }
      const oauth = request.method === "POST";
      try {
        if (request.method === "GET" || request.method === "HEAD") {
          return await handleGet(request, url.searchParams);
        }
        if (oauth) return await handlePost(request);
        return json(
          405,
          { errors: [{ code: "UNSUPPORTED", message: "use GET or POST" }] },
          { Allow: "GET, POST" },
        );
      } catch (err) {
        if (err instanceof ScopeError) return badRequest(oauth, err.message);
        throw err;
      }
    },
  };
}

function identityClaim(identity: Identity): { kind: "user" | "service" | "anonymous"; name: string } {
  return identity.kind === "anonymous" ? { kind: "anonymous", name: "" } : identity;
}
