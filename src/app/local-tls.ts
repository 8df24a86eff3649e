/**
 * HTTPS for the local platform (docs/configuration.md, HTTPS). raas keeps one local CA in the
 * state directory (`raas-ca/ca.key`, 0600, never in git; `raas-ca/ca.crt`) and gives every ISV
 * a server certificate from it (`<isv>/tls/server.crt` and `server.key`, 0600) naming
 * localhost, 127.0.0.1, ::1 and the host of `app_url`. Clients trust `<isv>/certs/`, a
 * directory holding only `ca.crt`: what skopeo's and podman's `--cert-dir` expect (a `.key`
 * there would be read as a client key). Setup renews what is missing, unreadable, about to
 * expire, not signed by the current CA, or naming other hosts; otherwise it changes nothing.
 *
 * Certificates are made with @peculiar/x509 over WebCrypto (no openssl on a fresh machine);
 * they are checked with node's own X509Certificate.
 */
import { createPrivateKey, webcrypto, X509Certificate as NodeCertificate } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { hostname } from "node:os";
import * as path from "node:path";
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { writeFileAtomic } from "../adapters/files.js";
import { CA_DIR } from "../config/isv.js";
import type { IsvSettings, IsvTlsSettings } from "../config/types.js";
import { UserError, errorMessage } from "../errors.js";
import type { StepResult } from "./platform.js";

export const CA_CERT = "ca.crt";
const CA_KEY = "ca.key";

const DAY = 86_400_000;
/** The CA lives ten years; it is replaced when it could no longer outlive a new server certificate. */
const CA_DAYS = 3650;
/** Server certificates live a year and are renewed in their last 30 days. */
const SERVER_DAYS = 365;
const RENEW_DAYS = 30;
/** Clocks of clients a little behind ours still accept a certificate made a moment ago. */
const BACKDATE_MS = 5 * 60_000;

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
// The DOM Crypto type @peculiar/x509 declares is structurally node's WebCrypto.
const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1] &
  typeof webcrypto;

export function caFiles(stateDir: string): { cert: string; key: string } {
  return { cert: path.join(stateDir, CA_DIR, CA_CERT), key: path.join(stateDir, CA_DIR, CA_KEY) };
}

interface Pair {
  certPem: string;
  keyPem: string;
}

async function readPair(certFile: string, keyFile: string): Promise<Pair | undefined> {
  const [certPem, keyPem] = await Promise.all([
    readFile(certFile, "utf8").catch(() => undefined),
    readFile(keyFile, "utf8").catch(() => undefined),
  ]);
  return certPem === undefined || keyPem === undefined ? undefined : { certPem, keyPem };
}

/** The certificate, if it parses and its key is the one beside it. */
function parsePair(pair: Pair): NodeCertificate | undefined {
  try {
    const cert = new NodeCertificate(pair.certPem);
    return cert.checkPrivateKey(createPrivateKey(pair.keyPem)) ? cert : undefined;
  } catch {
    return undefined;
  }
}

const daysLeft = (cert: NodeCertificate, now: Date) =>
  (new Date(cert.validTo).getTime() - now.getTime()) / DAY;

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // a positive INTEGER
  return Buffer.from(bytes).toString("hex");
}

async function privatePem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

async function importSigningKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = createPrivateKey(pem).export({ type: "pkcs8", format: "der" });
  return crypto.subtle.importKey("pkcs8", der, ALGORITHM, false, ["sign"]);
}

async function writeKeyAndCert(certFile: string, keyFile: string, pair: Pair): Promise<void> {
  await mkdir(path.dirname(keyFile), { recursive: true, mode: 0o700 });
  await mkdir(path.dirname(certFile), { recursive: true });
  await writeFileAtomic(keyFile, pair.keyPem, { mode: 0o600, durable: true });
  await writeFileAtomic(certFile, pair.certPem, { durable: true });
}

async function newCa(now: Date): Promise<Pair> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: `CN=raas local CA (${hostname().replace(/[,+="\\<>;#]/g, "")}), O=raas`,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + CA_DAYS * DAY),
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString("pem"), keyPem: await privatePem(keys.privateKey) };
}

async function newServerCert(ca: Pair, hosts: readonly string[], now: Date): Promise<Pair> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const caCert = new x509.X509Certificate(ca.certPem);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: "CN=raas registry, O=raas",
      issuer: caCert.subject,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + SERVER_DAYS * DAY),
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: await importSigningKey(ca.keyPem),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(
          hosts.map((host) => ({ type: isIP(host) === 0 ? ("dns" as const) : ("ip" as const), value: host })),
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString("pem"), keyPem: await privatePem(keys.privateKey) };
}

/** Whether the certificate names exactly `hosts` (no more: a removed host name renews it too). */
function namesExactly(cert: NodeCertificate, hosts: readonly string[]): boolean {
  const names = (cert.subjectAltName ?? "").split(", ").filter((n) => n !== "");
  if (names.length !== hosts.length) return false;
  return hosts.every((host) =>
    isIP(host) === 0 ? cert.checkHost(host, { wildcards: false }) === host : cert.checkIP(host) === host,
  );
}

/** The local CA, created or replaced when missing, broken or too close to its end. */
async function ensureCa(stateDir: string, now: Date): Promise<{ pair: Pair; why: string | undefined }> {
  const files = caFiles(stateDir);
  const existing = await readPair(files.cert, files.key);
  const cert = existing === undefined ? undefined : parsePair(existing);
  let why: string | undefined;
  if (existing === undefined) why = "created the local CA";
  else if (cert === undefined || !cert.ca) why = "replaced an unreadable local CA";
  else if (daysLeft(cert, now) < SERVER_DAYS + RENEW_DAYS) {
    why = "renewed the local CA (it was about to expire)";
  }
  if (existing !== undefined && why === undefined) return { pair: existing, why };
  const pair = await newCa(now);
  await writeKeyAndCert(files.cert, files.key, pair);
  return { pair, why };
}

/** Why the server certificate must be made again, or undefined when it is good. */
function serverProblem(
  pair: Pair | undefined,
  ca: Pair,
  hosts: readonly string[],
  now: Date,
): string | undefined {
  if (pair === undefined) return "created";
  const cert = parsePair(pair);
  if (cert === undefined) return "replaced an unreadable certificate";
  if (!cert.verify(new NodeCertificate(ca.certPem).publicKey)) return "renewed for the current local CA";
  if (daysLeft(cert, now) < RENEW_DAYS) return "renewed (it was about to expire)";
  if (!namesExactly(cert, hosts)) return "renewed for changed host names";
  return undefined;
}

/** Copy `pem` to `<certDir>/ca.crt` unless it is already there. */
async function ensureCertDir(certDir: string, pem: string): Promise<boolean> {
  const file = path.join(certDir, CA_CERT);
  if ((await readFile(file, "utf8").catch(() => undefined)) === pem) return false;
  await mkdir(certDir, { recursive: true });
  await writeFileAtomic(file, pem);
  return true;
}

function validUntil(pem: string): string {
  return new Date(new NodeCertificate(pem).validTo).toISOString().slice(0, 10);
}

/** The operator's certificate: readable, matching its key, not expired; raas renews nothing. */
async function checkOperatorCert(tls: IsvTlsSettings, now: Date): Promise<StepResult> {
  const { caFile } = tls;
  const pair = await readPair(tls.certFile, tls.keyFile);
  if (pair === undefined) {
    throw new UserError(`cannot read the TLS certificate ${tls.certFile} or its key ${tls.keyFile}`, {
      code: "BAD_CONFIG",
      hint: "Check [raas] tls_cert and tls_key in raas.cfg, or remove both to let raas make a certificate.",
    });
  }
  const cert = parsePair(pair);
  if (cert === undefined) {
    throw new UserError(`${tls.certFile} is not a PEM certificate matching the key ${tls.keyFile}`, {
      code: "BAD_CONFIG",
      hint: "Check [raas] tls_cert and tls_key in raas.cfg.",
    });
  }
  if (daysLeft(cert, now) <= 0) {
    throw new UserError(`the TLS certificate ${tls.certFile} expired on ${cert.validTo}`, {
      code: "BAD_CONFIG",
      hint: "Renew it, or remove [raas] tls_cert and tls_key to let raas make and renew one.",
    });
  }
  const changed =
    tls.certDir !== undefined && caFile !== undefined
      ? await ensureCertDir(
          tls.certDir,
          await readFile(caFile, "utf8").catch((err: unknown) => {
            throw new UserError(`cannot read [raas] tls_ca ${caFile}: ${errorMessage(err)}`, {
              code: "BAD_CONFIG",
            });
          }),
        )
      : false;
  return {
    changed,
    detail: `the operator's certificate ${tls.certFile}, valid until ${validUntil(pair.certPem)}`,
  };
}

/**
 * What `raas setup` runs on the local platform: make or renew the CA and the ISV's server
 * certificate (or check the operator's). `changed` means the server must restart to serve it.
 */
export async function ensureLocalTls(
  settings: IsvSettings,
  options: { now?: Date } = {},
): Promise<StepResult> {
  const tls = settings.tls;
  if (tls === undefined) return { changed: false, detail: "plain HTTP ([raas] tls = off)" };
  const now = options.now ?? new Date();
  if (!tls.managed) return checkOperatorCert(tls, now);
  const ca = await ensureCa(settings.stateDir, now);
  const current = await readPair(tls.certFile, tls.keyFile);
  const problem = serverProblem(current, ca.pair, tls.hosts, now);
  let certPem = current?.certPem ?? "";
  if (problem !== undefined) {
    const pair = await newServerCert(ca.pair, tls.hosts, now);
    await writeKeyAndCert(tls.certFile, tls.keyFile, pair);
    certPem = pair.certPem;
  }
  if (tls.certDir !== undefined) await ensureCertDir(tls.certDir, ca.pair.certPem);
  const what = [ca.why, problem === undefined ? undefined : `certificate ${problem}`].filter(
    (w) => w !== undefined,
  );
  return {
    changed: problem !== undefined,
    detail:
      `${what.length > 0 ? `${what.join("; ")}: ` : ""}${tls.hosts.join(", ")} until ${validUntil(certPem)}` +
      `; clients trust it with --cert-dir ${tls.certDir ?? path.dirname(caFiles(settings.stateDir).cert)}`,
  };
}
