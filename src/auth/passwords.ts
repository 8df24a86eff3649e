/**
 * Password hashing with scrypt from node:crypto (argon2id is not in node:crypto on Node 20).
 *
 * Stored form: `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt base64>$<hash base64>` (PHC-like).
 * Default parameters: N = 2^15, r = 8, p = 1, 16-byte salt, 32-byte key: the parameter set OWASP
 * lists for scrypt at this cost (about 32 MiB and tens of milliseconds per hash). Stored parameters
 * are bounded when read, so an edited policy file cannot make one login cost gigabytes.
 *
 * Service-login tokens are long random values (256 bits); they need no slow hash, so they are
 * stored as `sha256:<hex>` and compared in constant time.
 */
import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual } from "node:crypto";

export interface ScryptParams {
  readonly ln: number;
  readonly r: number;
  readonly p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { ln: 15, r: 8, p: 1 };
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
const MAX_PASSWORD_BYTES = 1024;
const HASH_RE =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d)\$([A-Za-z0-9+/]{22}(?:==)?)\$([A-Za-z0-9+/]{43}=?)$/;

function inBounds(params: ScryptParams): boolean {
  return (
    params.ln >= 10 && params.ln <= 20 && params.r >= 1 && params.r <= 16 && params.p >= 1 && params.p <= 4
  );
}

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.ln;
  // scrypt needs 128 * N * r bytes; Node's default cap (32 MiB) is exactly the default set's need.
  const maxmem = 256 * N * params.r;
  return new Promise((resolve, reject) => {
    scryptCallback(
      password.normalize("NFC"),
      salt,
      KEY_LENGTH,
      { N, r: params.r, p: params.p, maxmem },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  if (!inBounds(params)) throw new RangeError("scrypt parameters out of bounds");
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw new RangeError("password too long");
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(password, salt, params);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${salt.toString("base64").replace(/=+$/, "")}$${key.toString("base64").replace(/=+$/, "")}`;
}

interface Parsed {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parseHash(stored: string): Parsed | undefined {
  const m = HASH_RE.exec(stored);
  if (!m) return undefined;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (!inBounds(params)) return undefined;
  const salt = Buffer.from(m[4] as string, "base64");
  const key = Buffer.from(m[5] as string, "base64");
  if (salt.length !== SALT_LENGTH || key.length !== KEY_LENGTH) return undefined;
  return { params, salt, key };
}

export function isPasswordHash(stored: string): boolean {
  return parseHash(stored) !== undefined;
}

/**
 * A hash of a random password at the default cost: verifying against it when the user does not
 * exist makes "no such user" take as long as "wrong password".
 */
let decoy: Promise<string> | undefined;
function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString("hex"));
  return decoy;
}

/** Constant-time check; `stored` undefined (unknown user, no password) still costs one hash. */
export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const parsed = stored === undefined ? undefined : parseHash(stored);
  const target = parsed ?? parseHash(await decoyHash());
  if (target === undefined || Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return false;
  const key = await derive(password, target.salt, target.params);
  return timingSafeEqual(key, target.key) && parsed !== undefined;
}

export const SERVICE_TOKEN_PREFIX = "raas_sl_";

/** A new service-login token (shown once) and the hash to store. */
export function newServiceToken(): { token: string; hash: string } {
  const token = SERVICE_TOKEN_PREFIX + randomBytes(32).toString("base64url");
  return { token, hash: hashServiceToken(token) };
}

export function hashServiceToken(token: string): string {
  return `sha256:${createHash("sha256").update(token).digest("hex")}`;
}

export function verifyServiceToken(token: string, storedHash: string | undefined): boolean {
  const actual = Buffer.from(hashServiceToken(token));
  // Compare against something of the same length even when there is no stored hash.
  const expected = Buffer.from(storedHash ?? hashServiceToken(""));
  return actual.length === expected.length && timingSafeEqual(actual, expected) && storedHash !== undefined;
}
