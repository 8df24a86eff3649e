import { X509Certificate } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../test/helpers/git.js";
import type { IsvSettings } from "../config/types.js";
import { ensureLocalTls } from "./local-tls.js";

const DAY = 86_400_000;

function settingsIn(stateDir: string, hosts = ["localhost", "127.0.0.1", "::1"]): IsvSettings {
  const isvDir = path.join(stateDir, "acme");
  return {
    isv: "acme",
    stateDir,
    isvDir,
    tls: {
      managed: true,
      certFile: path.join(isvDir, "tls", "server.crt"),
      keyFile: path.join(isvDir, "tls", "server.key"),
      caFile: path.join(stateDir, "raas-ca", "ca.crt"),
      certDir: path.join(isvDir, "certs"),
      hosts,
    },
  } as IsvSettings;
}

const serverCert = async (s: IsvSettings) =>
  new X509Certificate(await readFile(s.tls?.certFile ?? "", "utf8"));
const caPem = (stateDir: string) => readFile(path.join(stateDir, "raas-ca", "ca.crt"), "utf8");

describe("the local CA and server certificates", () => {
  it("makes a CA and a server certificate it signed, for exactly the host names, keys 0600", async () => {
    const stateDir = await tempDir();
    const settings = settingsIn(stateDir);
    const made = await ensureLocalTls(settings);
    expect(made.changed).toBe(true);
    const ca = new X509Certificate(await caPem(stateDir));
    const cert = await serverCert(settings);
    expect(ca.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    expect(cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]); // serverAuth
    for (const key of [path.join(stateDir, "raas-ca", "ca.key"), settings.tls?.keyFile ?? ""]) {
      expect((await stat(key)).mode & 0o777).toBe(0o600);
    }
    expect(await readFile(path.join(stateDir, "acme", "certs", "ca.crt"), "utf8")).toBe(
      await caPem(stateDir),
    );
    const again = await ensureLocalTls(settings);
    expect(again.changed).toBe(false);
    expect((await serverCert(settings)).fingerprint256).toBe(cert.fingerprint256);
  });

  it("renews in the last 30 days, for changed host names, and for a new CA", async () => {
    const stateDir = await tempDir();
    const settings = settingsIn(stateDir);
    await ensureLocalTls(settings);
    const first = await serverCert(settings);
    expect((await ensureLocalTls(settings, { now: new Date(Date.now() + 300 * DAY) })).changed).toBe(false);
    const late = await ensureLocalTls(settings, { now: new Date(Date.now() + 340 * DAY) });
    expect(late).toMatchObject({
      changed: true,
      detail: expect.stringMatching(/^certificate renewed \(it was about to expire\)/),
    });
    expect((await serverCert(settings)).fingerprint256).not.toBe(first.fingerprint256);

    const more = settingsIn(stateDir, ["localhost", "127.0.0.1", "::1", "reg.acme.test"]);
    const named = await ensureLocalTls(more);
    expect(named.detail).toMatch(/^certificate renewed for changed host names/);
    expect((await serverCert(more)).subjectAltName).toContain("DNS:reg.acme.test");
    // A name dropped renews too (the certificate names exactly the configured hosts).
    expect((await ensureLocalTls(settings)).detail).toMatch(/^certificate renewed for changed host names/);

    // Near the CA's end: a new CA, and the server certificate is made again under it.
    const oldCa = await caPem(stateDir);
    const caLate = await ensureLocalTls(settings, { now: new Date(Date.now() + 3400 * DAY) });
    expect(caLate.detail).toMatch(
      /^renewed the local CA \(it was about to expire\); certificate renewed for the current local CA/,
    );
    expect(await caPem(stateDir)).not.toBe(oldCa);
    expect(await readFile(path.join(stateDir, "acme", "certs", "ca.crt"), "utf8")).toBe(
      await caPem(stateDir),
    );
  });

  it("replaces a certificate whose key is not its own", async () => {
    const stateDir = await tempDir();
    const a = settingsIn(stateDir);
    await ensureLocalTls(a);
    const other = settingsIn(path.join(stateDir, "other"));
    await ensureLocalTls(other);
    await writeFile(a.tls?.keyFile ?? "", await readFile(other.tls?.keyFile ?? "", "utf8"));
    expect((await ensureLocalTls(a)).detail).toMatch(/^certificate replaced an unreadable certificate/);
  });

  it("checks the operator's certificate and never rewrites it", async () => {
    const stateDir = await tempDir();
    const made = settingsIn(path.join(stateDir, "pki"));
    await ensureLocalTls(made);
    const operator = {
      ...settingsIn(stateDir),
      tls: {
        managed: false,
        certFile: made.tls?.certFile ?? "",
        keyFile: made.tls?.keyFile ?? "",
        caFile: made.tls?.caFile,
        certDir: path.join(stateDir, "acme", "certs"),
        hosts: ["localhost"],
      },
    } as IsvSettings;
    const checked = await ensureLocalTls(operator);
    expect(checked.detail).toMatch(/^the operator's certificate .*server\.crt, valid until \d{4}-/);
    expect(await readFile(path.join(stateDir, "acme", "certs", "ca.crt"), "utf8")).toBe(
      await readFile(made.tls?.caFile ?? "", "utf8"),
    );
    await expect(ensureLocalTls(operator, { now: new Date(Date.now() + 400 * DAY) })).rejects.toThrow(
      /the TLS certificate .*server\.crt expired on/,
    );
    await expect(
      ensureLocalTls({ ...operator, tls: { ...operator.tls!, keyFile: path.join(stateDir, "nope.key") } }),
    ).rejects.toThrow(/cannot read the TLS certificate .* or its key .*nope\.key/);
  });
});
