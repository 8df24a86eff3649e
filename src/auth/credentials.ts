/**
 * Check a login (HTTP Basic or the OAuth2 password grant) against the policy.
 *
 * The branch taken depends only on what the client sent, never on what exists: a password that
 * looks like a service-login token is checked as one (a SHA-256 compare), anything else is
 * checked as a password with scrypt, against a decoy hash when the user does not exist. So neither
 * the answer nor its timing tells whether a name exists.
 */
import { createHash } from "node:crypto";
import type { Identity } from "./engine.js";
import { SERVICE_TOKEN_PREFIX, verifyPassword, verifyServiceToken } from "./passwords.js";
import type { Policy } from "./policy.js";

export const MAX_LOGIN_NAME = 128;
export const MAX_SECRET = 1024;

export interface Authenticated {
  readonly identity: Identity & { kind: "user" | "service" };
  /** Fingerprint of the stored credential; a refresh token is only good while it is unchanged. */
  readonly stamp: string;
}

export function credentialStamp(stored: string): string {
  return createHash("sha256").update("raas-credential\u0000").update(stored).digest("base64url").slice(0, 22);
}

export async function authenticate(
  policy: Policy,
  username: string,
  secret: string,
): Promise<Authenticated | undefined> {
  if (username.length === 0 || username.length > MAX_LOGIN_NAME || secret.length > MAX_SECRET) {
    return undefined;
  }
  if (secret.startsWith(SERVICE_TOKEN_PREFIX)) {
    const service = policy.services.get(username);
    if (!verifyServiceToken(secret, service?.tokenHash) || service === undefined) return undefined;
    return { identity: { kind: "service", name: service.name }, stamp: credentialStamp(service.tokenHash) };
  }
  const user = policy.users.get(username);
  const ok = await verifyPassword(secret, user?.passwordHash);
  if (!ok || user === undefined || user.passwordHash === undefined) return undefined;
  return { identity: { kind: "user", name: user.name }, stamp: credentialStamp(user.passwordHash) };
}

/** The current stamp of a login, or undefined when it no longer exists. */
export function currentStamp(policy: Policy, kind: "user" | "service", name: string): string | undefined {
  if (kind === "service") {
    const s = policy.services.get(name);
    return s === undefined ? undefined : credentialStamp(s.tokenHash);
  }
  const u = policy.users.get(name);
  return u?.passwordHash === undefined ? undefined : credentialStamp(u.passwordHash);
}

/** `Authorization: Basic …` -> username and secret; undefined when absent or malformed. */
export function parseBasic(header: string | undefined): { username: string; secret: string } | undefined {
  if (header === undefined || header.length > 4096) return undefined;
  const m = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1] as string, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}
