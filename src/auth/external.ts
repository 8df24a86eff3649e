/**
 * External issuer mode: trust tokens from an existing token server instead of issuing our own,
 * with the knobs distribution offers: realm, service, issuer, and either a root certificate
 * bundle (the token carries its signing certificate chain in `x5c`, or a `kid` naming a bundle
 * certificate's key by its JWK thumbprint) or a JWKS.
 *
 * Only asymmetric algorithms are accepted, and each key only with the algorithms of its type (an
 * RSA key never verifies HS256 or ES256). The token's `access` claim is the whole answer in this
 * mode: the external server decided.
 */
import { X509Certificate, type KeyObject } from "node:crypto";
import type { JSONWebKeySet, JWTVerifyGetKey } from "jose";
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify } from "jose";
import { UserError } from "../errors.js";
import type { VerifiedToken, Verifier } from "./jwt.js";
import { DEFAULT_LEEWAY_SECONDS, MAX_LEEWAY_SECONDS, parseAccessClaim, TokenInvalidError } from "./jwt.js";

export const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;

export interface ExternalIssuerOptions {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM text with one or more root certificates. */
  readonly rootCertBundle?: string;
  readonly jwks?: JSONWebKeySet;
  /** Defaults to all asymmetric algorithms; HMAC and `none` are refused. */
  readonly algorithms?: readonly string[];
  readonly leewaySeconds?: number;
}

const MAX_CHAIN = 5;
const MAX_CERT_BASE64 = 16 * 1024;

export function parseCertificateBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

function algorithmsFor(key: KeyObject): readonly string[] {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
    case "rsa-pss":
      return ["PS256", "PS384", "PS512"];
    case "ec": {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === "prime256v1"
        ? ["ES256"]
        : curve === "secp384r1"
          ? ["ES384"]
          : curve === "secp521r1"
            ? ["ES512"]
            : [];
    }
    case "ed25519":
      return ["EdDSA"];
    default:
      return [];
  }
}

function within(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);
}

/** The leaf key when `x5c` chains to one of the roots, all certificates valid now. */
function chainKey(x5c: unknown, roots: readonly X509Certificate[], now: Date): KeyObject {
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > MAX_CHAIN) {
    throw new TokenInvalidError("bad x5c chain");
  }
  const chain = x5c.map((entry) => {
    if (typeof entry !== "string" || entry.length > MAX_CERT_BASE64) {
      throw new TokenInvalidError("bad x5c chain");
    }
    try {
      return new X509Certificate(Buffer.from(entry, "base64"));
    } catch {
      throw new TokenInvalidError("bad x5c chain");
    }
  });
  for (const [i, cert] of chain.entries()) {
    if (!within(cert, now)) throw new TokenInvalidError("certificate not valid now");
    const issuer = chain[i + 1];
    if (issuer === undefined) break;
    if (!issuer.ca || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
      throw new TokenInvalidError("broken x5c chain");
    }
  }
  const top = chain.at(-1)!;
  const anchored = roots.some(
    (root) =>
      within(root, now) &&
      (root.fingerprint256 === top.fingerprint256 ||
        (root.ca && top.checkIssued(root) && top.verify(root.publicKey))),
  );
  if (!anchored) throw new TokenInvalidError("certificate chain not trusted");
  return chain[0]!.publicKey;
}

export function createExternalVerifier(options: ExternalIssuerOptions): Verifier {
  const allowed = new Set(options.algorithms ?? ASYMMETRIC_ALGORITHMS);
  for (const alg of allowed) {
    if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new UserError(`external token issuer: algorithm ${alg} is not allowed`, {
        hint: `Use asymmetric algorithms only: ${ASYMMETRIC_ALGORITHMS.join(", ")}.`,
        code: "AUTH_CONFIG",
      });
    }
  }
  const roots = options.rootCertBundle === undefined ? [] : parseCertificateBundle(options.rootCertBundle);
  if (options.rootCertBundle !== undefined && roots.length === 0) {
    throw new UserError("external token issuer: the root certificate bundle holds no certificate", {
      code: "AUTH_CONFIG",
    });
  }
  if (roots.length === 0 && options.jwks === undefined) {
    throw new UserError("external token issuer: configure a root certificate bundle or a JWKS", {
      code: "AUTH_CONFIG",
    });
  }
  const jwks = options.jwks === undefined ? undefined : createLocalJWKSet(options.jwks);
  const rootKids = Promise.all(
    roots.map(
      async (root) =>
        [await calculateJwkThumbprint(root.publicKey.export({ format: "jwk" }) as never), root] as const,
    ),
  ).then((pairs) => new Map(pairs));
  const leeway = Math.max(0, Math.min(options.leewaySeconds ?? DEFAULT_LEEWAY_SECONDS, MAX_LEEWAY_SECONDS));

  return async (token, use = "access", now = new Date()) => {
    try {
      if (use !== "access") throw new TokenInvalidError("only access tokens come from an external issuer");
      if (token.length > 64 * 1024) throw new TokenInvalidError("too long");
      const header = decodeProtectedHeader(token);
      if (typeof header.alg !== "string" || !allowed.has(header.alg)) {
        throw new TokenInvalidError("algorithm not allowed");
      }
      const kids = await rootKids;
      const getKey: JWTVerifyGetKey = async (h, t) => {
        let key: KeyObject | undefined;
        if (h.x5c !== undefined && roots.length > 0) key = chainKey(h.x5c, roots, now);
        else if (typeof h.kid === "string" && kids.has(h.kid)) key = kids.get(h.kid)!.publicKey;
        if (key === undefined) {
          if (jwks === undefined) throw new TokenInvalidError("unknown key id");
          return jwks(h, t);
        }
        if (!algorithmsFor(key).includes(h.alg)) throw new TokenInvalidError("algorithm not allowed");
        return key;
      };
      const { payload } = await jwtVerify(token, getKey, {
        algorithms: [...allowed],
        issuer: options.issuer,
        audience: options.service,
        clockTolerance: leeway,
        currentDate: now,
        requiredClaims: ["iss", "aud", "exp"],
      });
      const verified: VerifiedToken = {
        subject: typeof payload.sub === "string" ? payload.sub : "",
        kind: "external",
        access: parseAccessClaim(payload.access),
        expiresAt: payload.exp ?? 0,
        notBefore: payload.nbf ?? payload.iat ?? 0,
        claims: payload,
      };
      return verified;
    } catch (err) {
      if (err instanceof TokenInvalidError) throw err;
      if (err instanceof errors.JWTExpired) throw new TokenInvalidError("expired");
      if (err instanceof errors.JWTClaimValidationFailed) {
        throw new TokenInvalidError(`claim ${err.claim} ${err.reason}`);
      }
      if (err instanceof errors.JWKSNoMatchingKey) throw new TokenInvalidError("unknown key id");
      if (err instanceof errors.JOSEAlgNotAllowed) throw new TokenInvalidError("algorithm not allowed");
      if (err instanceof errors.JWSSignatureVerificationFailed) throw new TokenInvalidError("bad signature");
      throw new TokenInvalidError("unverifiable");
    }
  };
}
