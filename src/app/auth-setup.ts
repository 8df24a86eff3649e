/**
 * What `raas setup` does for `[auth]` (docs/auth.md): signing keys in the ISV's state directory
 * (0600, never in git; on OpenShift also a Secret mounted into the pod), an access.yaml in the
 * app repository when there is none yet (an empty policy: nothing is pullable without a login),
 * the external issuer's public trust material copied into the app repository, and a refusal of
 * any configuration that would publish private blobs as public objects.
 */
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import {
  emptyPolicy,
  ensureKeys,
  KEY_FILE,
  parsePolicy,
  POLICY_FILE,
  serializePolicy,
} from "../auth/index.js";
import type { Policy } from "../auth/index.js";
import type { IsvSettings } from "../config/types.js";
import { UserError } from "../errors.js";
import { EXTERNAL_JWKS_FILE, EXTERNAL_ROOTS_FILE } from "./registry-conf.js";

/** Sizes of the trust material files copied into the app repository. */
const MAX_TRUST_FILE = 1024 * 1024;

const authMode = (settings: IsvSettings) => settings.auth?.mode ?? "off";

/** Creates the signing keys (local mode) once; a no-op afterwards. */
export async function ensureAuthKeys(settings: IsvSettings): Promise<boolean> {
  if (authMode(settings) !== "local") return false;
  await ensureKeys(settings.isvDir);
  return true;
}

/** The key file setup puts into the OpenShift Secret. */
export async function authKeyFileText(settings: IsvSettings): Promise<string | undefined> {
  if (authMode(settings) !== "local") return undefined;
  await ensureKeys(settings.isvDir);
  return readFile(path.join(settings.isvDir, KEY_FILE), "utf8");
}

/** Whether anyone may pull every repository: then public objects expose nothing private. */
function everythingPublic(policy: Policy | undefined): boolean {
  return policy?.registry.anonymousPull.some((glob) => glob.source === "**") === true;
}

/**
 * Refuse storage settings that make blobs readable without the registry: public-read objects,
 * or public redirects (which need public objects or a public CDN base URL), while some
 * repository is private. The server presigns private repositories' redirects in any mode; that
 * protects nothing when the objects themselves are public.
 */
export function checkPrivateBlobs(settings: IsvSettings, policy: Policy | undefined): void {
  const mode = authMode(settings);
  const storage = settings.storage;
  if (mode === "off" || storage.kind !== "s3") return;
  const publicObjects = storage.publicRead || storage.redirect === "public";
  if (!publicObjects || (mode === "local" && everythingPublic(policy))) return;
  const what = storage.publicRead ? "[s3] public_read = true" : "[s3] redirect = public";
  throw new UserError(
    `refusing to set up ${settings.isv}: [auth] mode = ${mode} keeps repositories private, but ${what} makes their blobs public objects in ${storage.bucket}`,
    {
      code: "BAD_CONFIG",
      hint: 'Set [s3] redirect = presigned and public_read = false (private blobs are then redirected with short-lived presigned URLs), or make every repository anonymously pullable (anonymousPull: ["**"] in access.yaml).',
    },
  );
}

async function readTrustFile(file: string, what: string): Promise<string> {
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`cannot read the ${what} ${file}: ${err.code ?? err.message}`, {
      hint: "Check [auth] external_root_certs / external_jwks in raas.cfg.",
    });
  });
  if (text.length > MAX_TRUST_FILE) throw new UserError(`${file}: larger than ${MAX_TRUST_FILE} bytes`);
  if (text.includes("PRIVATE KEY")) {
    throw new UserError(`${file} contains a private key; only certificates belong in the app repository`);
  }
  return text;
}

/**
 * The auth files of the app repository, given what is already there (`existing` reads a file of
 * the working copy). access.yaml is written only when missing: after that it is edited by the
 * `raas user|group|app|service-login` commands, never by setup.
 */
export async function authAppFiles(
  settings: IsvSettings,
  existing: (rel: string) => Promise<string | undefined>,
): Promise<{ path: string; data: string }[]> {
  const mode = authMode(settings);
  const files: { path: string; data: string }[] = [];
  let policy: Policy | undefined;
  if (mode === "local") {
    const text = await existing(POLICY_FILE);
    if (text === undefined) files.push({ path: POLICY_FILE, data: serializePolicy(emptyPolicy()) });
    policy = text === undefined ? emptyPolicy() : parsePolicy(text, POLICY_FILE);
  }
  checkPrivateBlobs(settings, policy);
  if (mode === "external") {
    const ext = settings.auth?.external;
    if (ext?.rootCerts !== undefined) {
      files.push({
        path: EXTERNAL_ROOTS_FILE,
        data: await readTrustFile(ext.rootCerts, "root certificates"),
      });
    } else if (ext?.jwks !== undefined) {
      files.push({ path: EXTERNAL_JWKS_FILE, data: await readTrustFile(ext.jwks, "JWKS") });
    }
  }
  return files;
}
