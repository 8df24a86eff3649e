/**
 * Sessions for the web page's login form, framework free (the page sets and reads the cookie).
 *
 * A login is checked by the token service's `checkLogin`: the same identities, the same
 * failed-login limits per name and per address, the same answer for an unknown name and a wrong
 * password. The session is a short-lived JWT signed with the registry's own key (ES256, pinned by
 * the verifier like every token of ours) with `token_use: "session"`, so it is never accepted as a
 * registry token and no registry token is accepted as a session. It is bound to the credential it
 * was issued for (`cred`), as refresh tokens are: a changed password, a revoked service login or a
 * removed user ends every session at once.
 */
import type { Identity } from "./engine.js";
import { currentStamp } from "./credentials.js";
import { createVerifier, DEFAULT_SESSION_TTL_SECONDS, issueSessionToken } from "./jwt.js";
import type { KeySet } from "./keys.js";
import type { Policy } from "./policy.js";
import type { TokenService } from "./token-service.js";

export type LoggedIn = Identity & { kind: "user" | "service" };

export type LoginOutcome =
  | { ok: true; identity: LoggedIn; session: string; maxAge: number }
  /** `retryAfter` (seconds) when the name or the address is locked after too many failures. */
  | { ok: false; retryAfter?: number };

export interface SessionService {
  login: (username: string, password: string, remoteAddress: string) => Promise<LoginOutcome>;
  /** Who a session value belongs to; undefined when it is not a valid, current session. */
  verify(session: string): Promise<LoggedIn | undefined>;
}

export interface SessionServiceOptions {
  readonly keys: KeySet;
  readonly issuer: string;
  readonly service: string;
  readonly policy: () => Policy;
  readonly checkLogin: TokenService["checkLogin"];
  /** Default one hour; at most 12 hours. */
  readonly ttlSeconds?: number;
  readonly now?: () => Date;
}

/** A session value is a compact JWS: three base64url parts. Anything else is not looked at. */
const SESSION_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_SESSION = 4096;

export function createSessionService(options: SessionServiceOptions): SessionService {
  const now = options.now ?? (() => new Date());
  const verifier = createVerifier({ keys: options.keys, issuer: options.issuer, service: options.service });
  const issue = {
    issuer: options.issuer,
    service: options.service,
    ttlSeconds: options.ttlSeconds ?? DEFAULT_SESSION_TTL_SECONDS,
  };
  return {
    async login(username, password, remoteAddress) {
      // Oversized input is refused like a wrong password (authenticate), and counted.
      const result = await options.checkLogin(username, password, remoteAddress);
      if (result === undefined) return { ok: false };
      if (!("identity" in result)) return { ok: false, retryAfter: result.retryAfter };
      const issued = await issueSessionToken(
        options.keys,
        { ...issue, now: now() },
        result.identity,
        result.stamp,
      );
      return { ok: true, identity: result.identity, session: issued.token, maxAge: issued.expiresIn };
    },
    async verify(session) {
      if (session.length > MAX_SESSION || !SESSION_RE.test(session)) return undefined;
      try {
        const token = await verifier(session, "session", now());
        if (token.kind !== "user" && token.kind !== "service") return undefined;
        const stamp = currentStamp(options.policy(), token.kind, token.subject);
        if (stamp === undefined || stamp !== token.claims.cred) return undefined;
        return { kind: token.kind, name: token.subject };
      } catch {
        return undefined;
      }
    },
  };
}
