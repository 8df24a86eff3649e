import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
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

/**
 * A private certificate authority made with the openssl CLI in `dir` (`ca.crt`, `ca.key`), and
 * a server certificate for 127.0.0.1 it signs (`server.crt`, `server.key`): two of them stand
 * for two unrelated CAs, e.g. a registry's private CA and the public one of the CDN it
 * redirects to.
 */
export async function certificateAuthority(
  dir: string,
  name: string,
): Promise<{ caPath: string; ca: string; cert: string; key: string }> {
  const run = (...args: string[]) => promisify(execFile)("openssl", args, { cwd: dir });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "1",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  await run("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  await writeFile(
    join(dir, "server.ext"),
    "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await run(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "1",
    "-extfile",
    "server.ext",
  );
  const read = (file: string) => readFile(join(dir, file), "utf8");
  return {
    caPath: join(dir, "ca.crt"),
    ca: await read("ca.crt"),
    cert: await read("server.crt"),
    key: await read("server.key"),
  };
}
