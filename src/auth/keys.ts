/**
 * Our token-signing keys: ES256 (P-256), kid = RFC 7638 JWK thumbprint of the public key.
 *
 * Stored in `<state dir>/auth-keys.json`, mode 0600, never in git. The file holds at most two
 * keys: the current one (signs) and the previous one (still verifies), so rotating never
 * invalidates a token issued a moment before. Tokens live minutes; after one token lifetime the
 * previous key can be dropped by rotating again.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CryptoKey, JWK } from "jose";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from "jose";
import * as v from "valibot";
import { InputError, UserError } from "../errors.js";

export const KEY_FILE = "auth-keys.json";
export const SIGNING_ALG = "ES256";

export interface SigningKey {
  readonly kid: string;
  readonly createdAt: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

export interface KeySet {
  readonly current: SigningKey;
  readonly previous: SigningKey | undefined;
}

interface StoredKey {
  kid: string;
  createdAt: string;
  jwk: JWK;
}

const storedSchema = v.strictObject({
  version: v.literal(1),
  keys: v.pipe(
    v.array(
      v.strictObject({
        kid: v.string(),
        createdAt: v.string(),
        jwk: v.looseObject({
          kty: v.literal("EC"),
          crv: v.literal("P-256"),
          x: v.string(),
          y: v.string(),
          d: v.string(),
        }),
      }),
    ),
    v.minLength(1),
    v.maxLength(2),
  ),
});

function publicPart(jwk: JWK): JWK {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
}

async function newStoredKey(now: Date): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { kid: await calculateJwkThumbprint(publicPart(jwk)), createdAt: now.toISOString(), jwk };
}

async function toSigningKey(stored: StoredKey, file: string): Promise<SigningKey> {
  const publicJwk = { ...publicPart(stored.jwk), kid: stored.kid, alg: SIGNING_ALG, use: "sig" };
  if ((await calculateJwkThumbprint(publicPart(stored.jwk))) !== stored.kid) {
    throw new InputError(file, `key ${stored.kid} does not match its thumbprint`);
  }
  const privateKey = (await importJWK({ ...stored.jwk, alg: SIGNING_ALG }, SIGNING_ALG)) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, SIGNING_ALG)) as CryptoKey;
  return { kid: stored.kid, createdAt: stored.createdAt, privateKey, publicKey, publicJwk };
}

export interface KeyFileOptions {
  /**
   * Accept group read (never write, never other users): a Kubernetes Secret volume with an
   * fsGroup gets mode 0440 whatever its defaultMode, the group being the pod's own.
   */
  readonly groupRead?: boolean;
}

async function readStored(file: string, options: KeyFileOptions = {}): Promise<StoredKey[] | undefined> {
  let text: string;
  try {
    const info = await stat(file);
    const forbidden = options.groupRead === true ? 0o037 : 0o077;
    if (process.platform !== "win32" && (info.mode & forbidden) !== 0) {
      throw new UserError(
        `${file}: signing keys are readable by other users (mode ${(info.mode & 0o777).toString(8)})`,
        {
          hint: `Run: chmod 600 ${file}`,
          code: "KEY_FILE_PERMISSIONS",
        },
      );
    }
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InputError(file, "is not valid JSON", { cause: err });
  }
  const result = v.safeParse(storedSchema, raw);
  if (!result.success) {
    throw new InputError(file, `is not a raas key file: ${result.issues[0]?.message ?? ""}`);
  }
  return result.output.keys;
}

async function writeStored(stateDir: string, keys: StoredKey[]): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, KEY_FILE);
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(tmp, JSON.stringify({ version: 1, keys }, null, 2) + "\n", { mode: 0o600, flag: "wx" });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

async function toKeySet(keys: StoredKey[], file: string): Promise<KeySet> {
  const [current, previous] = keys;
  return {
    current: await toSigningKey(current!, file),
    previous: previous === undefined ? undefined : await toSigningKey(previous, file),
  };
}

/** The keys in the state dir; undefined when none were generated yet. */
export async function loadKeys(stateDir: string, options: KeyFileOptions = {}): Promise<KeySet | undefined> {
  const file = join(stateDir, KEY_FILE);
  const stored = await readStored(file, options);
  return stored === undefined ? undefined : toKeySet(stored, file);
}

/** What `setup` calls: keep existing keys, or generate the first one. */
export async function ensureKeys(stateDir: string, now = new Date()): Promise<KeySet> {
  const existing = await loadKeys(stateDir);
  if (existing !== undefined) return existing;
  const first = await newStoredKey(now);
  await writeStored(stateDir, [first]);
  return toKeySet([first], join(stateDir, KEY_FILE));
}

/** New current key; the old current key stays as previous; anything older is dropped. */
export async function rotateKeys(stateDir: string, now = new Date()): Promise<KeySet> {
  const file = join(stateDir, KEY_FILE);
  const stored = (await readStored(file)) ?? [];
  const next = [await newStoredKey(now), ...stored.slice(0, 1)];
  await writeStored(stateDir, next);
  return toKeySet(next, file);
}

/** An in-memory key set (tests, and platforms that keep the key in a secret store). */
export async function generateKeySet(now = new Date()): Promise<KeySet> {
  return toKeySet([await newStoredKey(now)], "(generated)");
}

/** The public keys as a JWKS document, e.g. for a registry that verifies our tokens. */
export function publicJwks(keys: KeySet): { keys: JWK[] } {
  return { keys: [keys.current, keys.previous].filter((k) => k !== undefined).map((k) => k.publicJwk) };
}
