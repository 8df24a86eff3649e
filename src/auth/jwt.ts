/**
 * Registry bearer tokens (the JWT format of the Docker token specification): issued with our
 * current ES256 key, verified against our current and previous keys only.
 *
 * Verification is pinned per key: the `kid` selects one of our keys and that key verifies only
 * ES256, so `alg: none`, HMAC signed with a public key, an unknown `kid` or another algorithm
 * never verify. `iss`, `aud` (= service), `exp` and `nbf` are required and checked with a bounded
 * clock skew; `token_use` keeps access and refresh tokens from standing in for each other.
 */
import { randomBytes } from "node:crypto";
import type { CryptoKey, JWTPayload } from "jose";
import { errors, jwtVerify, SignJWT } from "jose";
import * as v from "valibot";
import type { KeySet } from "./keys.js";
import { SIGNING_ALG } from "./keys.js";

export const DEFAULT_TTL_SECONDS = 300;
export const MAX_TTL_SECONDS = 3600;
export const DEFAULT_LEEWAY_SECONDS = 60;
export const MAX_LEEWAY_SECONDS = 300;
export const MAX_ACCESS_ENTRIES = 64;

export interface AccessEntry {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

export type SubjectKind = "user" | "service" | "anonymous" | "external";

export interface VerifiedToken {
  readonly subject: string;
  readonly kind: SubjectKind;
  readonly access: readonly AccessEntry[];
  readonly expiresAt: number;
  readonly notBefore: number;
  readonly claims: JWTPayload;
}

export class TokenInvalidError extends Error {
  constructor(readonly reason: string) {
    super(`invalid token: ${reason}`);
    this.name = "TokenInvalidError";
  }
}

const accessSchema = v.pipe(
  v.array(
    v.object({
      type: v.pipe(v.string(), v.maxLength(64)),
      name: v.pipe(v.string(), v.maxLength(512)),
      actions: v.pipe(v.array(v.pipe(v.string(), v.maxLength(32))), v.maxLength(16)),
    }),
  ),
  v.maxLength(MAX_ACCESS_ENTRIES),
);

/** The Docker `access` claim, bounded; anything else is an invalid token. */
export function parseAccessClaim(value: unknown): AccessEntry[] {
  if (value === undefined) return [];
  const result = v.safeParse(accessSchema, value);
  if (!result.success) throw new TokenInvalidError("malformed access claim");
  return result.output.map((e) => ({ type: e.type, name: e.name, actions: e.actions }));
}

export interface IssueOptions {
  readonly issuer: string;
  readonly service: string;
  readonly ttlSeconds?: number;
  readonly now?: Date;
}

export interface IssuedToken {
  readonly token: string;
  readonly expiresIn: number;
  readonly issuedAt: string;
}

function clampTtl(ttl: number | undefined): number {
  return Math.max(1, Math.min(ttl ?? DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS));
}

async function sign(
  keys: KeySet,
  options: IssueOptions,
  subject: string,
  kind: SubjectKind,
  claims: Record<string, unknown>,
  ttl: number,
): Promise<IssuedToken> {
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const token = await new SignJWT({ ...claims, raas_kind: kind })
    .setProtectedHeader({ alg: SIGNING_ALG, kid: keys.current.kid, typ: "JWT" })
    .setIssuer(options.issuer)
    .setSubject(subject)
    .setAudience(options.service)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + ttl)
    .setJti(randomBytes(16).toString("base64url"))
    .sign(keys.current.privateKey);
  return { token, expiresIn: ttl, issuedAt: new Date(now * 1000).toISOString() };
}

export function issueAccessToken(
  keys: KeySet,
  options: IssueOptions,
  subject: { kind: SubjectKind; name: string },
  access: readonly AccessEntry[],
): Promise<IssuedToken> {
  return sign(
    keys,
    options,
    subject.name,
    subject.kind,
    { token_use: "access", access },
    clampTtl(options.ttlSeconds),
  );
}

export const REFRESH_TTL_SECONDS = 7 * 24 * 3600;

/** A refresh token bound to the credential it was issued for (`cred`): changing it revokes. */
export function issueRefreshToken(
  keys: KeySet,
  options: IssueOptions,
  subject: { kind: "user" | "service"; name: string },
  credentialStamp: string,
  clientId: string,
): Promise<IssuedToken> {
  return sign(
    keys,
    options,
    subject.name,
    subject.kind,
    { token_use: "refresh", cred: credentialStamp, client_id: clientId },
    REFRESH_TTL_SECONDS,
  );
}

export const DEFAULT_SESSION_TTL_SECONDS = 3600;
export const MAX_SESSION_TTL_SECONDS = 12 * 3600;

/** A web page session, bound like a refresh token to the credential it was issued for. */
export function issueSessionToken(
  keys: KeySet,
  options: IssueOptions,
  subject: { kind: "user" | "service"; name: string },
  credentialStamp: string,
): Promise<IssuedToken> {
  const ttl = Math.max(
    60,
    Math.min(options.ttlSeconds ?? DEFAULT_SESSION_TTL_SECONDS, MAX_SESSION_TTL_SECONDS),
  );
  return sign(
    keys,
    options,
    subject.name,
    subject.kind,
    { token_use: "session", cred: credentialStamp },
    ttl,
  );
}

export interface VerifierOptions {
  readonly keys: KeySet;
  readonly issuer: string;
  readonly service: string;
  readonly leewaySeconds?: number;
}

/** `session`: the web page's login cookie (session.ts); never accepted as a registry token. */
export type TokenUse = "access" | "refresh" | "session";

export type Verifier = (token: string, use?: TokenUse, now?: Date) => Promise<VerifiedToken>;

const MAX_TOKEN_LENGTH = 16 * 1024;

/** Map a jose failure to a short reason; the token itself is never part of it. */
function reasonOf(err: unknown): string {
  if (err instanceof TokenInvalidError) return err.reason;
  if (err instanceof errors.JWTExpired) return "expired";
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} ${err.reason}`;
  if (err instanceof errors.JOSEAlgNotAllowed) return "algorithm not allowed";
  if (err instanceof errors.JWSSignatureVerificationFailed) return "bad signature";
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return "malformed";
  return "unverifiable";
}

export function createVerifier(options: VerifierOptions): Verifier {
  const leeway = Math.max(0, Math.min(options.leewaySeconds ?? DEFAULT_LEEWAY_SECONDS, MAX_LEEWAY_SECONDS));
  const byKid = new Map<string, CryptoKey>();
  for (const key of [options.keys.current, options.keys.previous]) if (key) byKid.set(key.kid, key.publicKey);
  return async (token, use = "access", now = new Date()) => {
    try {
      if (token.length > MAX_TOKEN_LENGTH) throw new TokenInvalidError("too long");
      const { payload } = await jwtVerify(
        token,
        (header) => {
          const key = typeof header.kid === "string" ? byKid.get(header.kid) : undefined;
          if (key === undefined) throw new TokenInvalidError("unknown key id");
          if (header.alg !== SIGNING_ALG) throw new TokenInvalidError("algorithm not allowed");
          return key;
        },
        {
          algorithms: [SIGNING_ALG],
          issuer: options.issuer,
          audience: options.service,
          clockTolerance: leeway,
          currentDate: now,
          requiredClaims: ["iss", "sub", "aud", "exp", "nbf", "iat"],
        },
      );
      if (payload.token_use !== use) {
        throw new TokenInvalidError(`not ${use === "access" ? "an" : "a"} ${use} token`);
      }
      const kind = payload.raas_kind;
      if (kind !== "user" && kind !== "service" && kind !== "anonymous") {
        throw new TokenInvalidError("unknown subject kind");
      }
      return {
        subject: payload.sub ?? "",
        kind,
        access: use === "access" ? parseAccessClaim(payload.access) : [],
        expiresAt: payload.exp ?? 0,
        notBefore: payload.nbf ?? 0,
        claims: payload,
      };
    } catch (err) {
      throw new TokenInvalidError(reasonOf(err));
    }
  };
}
