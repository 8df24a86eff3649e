import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

/**
 * A self-signed certificate for 127.0.0.1 (EC P-256, one day), made with the openssl CLI in
 * `dir` as `tls.crt` and `tls.key`; `cert` is its PEM text, for a client's `ca`.
 */
export async function selfSignedCert(
  dir: string,
): Promise<{ certPath: string; keyPath: string; cert: string }> {
  const certPath = join(dir, "tls.crt");
  const keyPath = join(dir, "tls.key");
  await promisify(execFile)("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyPath,
    "-out",
    certPath,
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
  ]);
  return { certPath, keyPath, cert: await readFile(certPath, "utf8") };
}
