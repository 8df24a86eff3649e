/**
 * HTTPS by default on the local platform, end to end with the real CLI, the background server
 * `raas setup` starts, skopeo and podman: with no configuration at all setup makes a local CA
 * (key 0600 in the state dir, never in git) and a server certificate; clients pull with
 * `--cert-dir` and fail with verification on and no CA; `raas status` checks over TLS; setup
 * again changes nothing; a new host name renews the certificate and restarts the server. Plain
 * HTTP only when asked (`tls = off`).
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { promisify } from "node:util";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { buildOciLayout } from "../helpers/image-builder.js";
import { podmanStorage } from "../helpers/podman.js";

const run = promisify(execFile);

async function tool(cmd: string, ...args: string[]): Promise<{ code: number; out: string }> {
  return run(cmd, args, { timeout: 120_000 }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === "number" ? e.code : 1,
      out: `${e.stdout ?? ""}${e.stderr ?? ""}`,
    }),
  );
}

/** The certificate the server at `port` presents (not verified: only looked at). */
function servedCertificate(port: number): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.on("error", reject);
  });
}

interface Report {
  ok: boolean;
  changed: boolean;
  appUrl: string;
  checks: { name: string; status: string; detail: string }[];
}

describe("HTTPS by default on the local platform", () => {
  const ISV = "tlsdef";
  let work: string;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let port: number;
  let host: string;
  const cli = (...argv: string[]) => runCli(argv, { cwd: work, env });
  const raasHome = () => join(home, "raas");
  const certDir = () => join(raasHome(), ISV, "certs");

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-https-"));
    home = join(work, "home");
    // The default: nothing asks for plain HTTP.
    env = cliEnv(home);
    delete env.RAAS_TLS;
    port = await reservePort(raasHome(), ISV);
    host = `127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await stopBackgroundServer(raasHome(), ISV);
    await rm(work, { recursive: true, force: true });
  });

  it("setup makes a CA (key 0600, outside git) and a certificate, and serves HTTPS", async () => {
    const setup = await cli("setup", ISV, "--json");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const report = JSON.parse(setup.stdout) as Report;
    expect(report.appUrl).toBe(`https://${host}`);
    expect(report.checks.find((c) => c.name === "tls")?.detail).toMatch(
      /^created the local CA; certificate created: localhost, 127\.0\.0\.1, ::1 until \d{4}-\d\d-\d\d/,
    );
    expect((await stat(join(raasHome(), "raas-ca", "ca.key"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(raasHome(), ISV, "tls", "server.key"))).mode & 0o777).toBe(0o600);
    // What --cert-dir reads: only the CA certificate (a .key there would be taken for a client key).
    expect(await readdir(certDir())).toEqual(["ca.crt"]);
    expect(await readFile(join(certDir(), "ca.crt"), "utf8")).toBe(
      await readFile(join(raasHome(), "raas-ca", "ca.crt"), "utf8"),
    );
    // No key material in the app repository.
    const remote = join(raasHome(), ISV, "app.git");
    const grep = spawnSync("git", ["--git-dir", remote, "grep", "-l", "PRIVATE KEY", "HEAD"], {
      encoding: "utf8",
    });
    expect([grep.status, grep.stdout]).toEqual([1, ""]); // 1: no match
    const conf = execFileSync("git", ["--git-dir", remote, "show", "HEAD:registry.conf"], {
      encoding: "utf8",
    });
    expect(conf).toContain(`tls_cert = ${join(raasHome(), ISV, "tls", "server.crt")}\n`);
    // The web page's pull commands name the directory clients trust the CA with.
    expect(conf).toContain(`tls_cert_dir = ${certDir()}\n`);
    // Plain HTTP is not spoken on the port.
    await expect(fetch(`http://${host}/v2/`)).rejects.toThrow();
  }, 120_000);

  it("skopeo and podman pull with --cert-dir, and refuse the registry with verification on and no CA", async () => {
    await buildOciLayout(join(work, "img.tar"), { name: "tls/app", tag: "1.0", layers: 2, gzip: true });
    const push = await cli("push", ISV, "img.tar");
    expect(push.code, push.stdout + push.stderr).toBe(0);
    // The pull commands push prints work as printed.
    expect(push.stdout).toContain(
      `skopeo copy --src-cert-dir ${certDir()} docker://${host}/tls/app:1.0 oci:./image`,
    );
    expect(push.stdout).toContain(`podman pull --cert-dir ${certDir()} ${host}/tls/app:1.0`);
    expect(push.stdout).not.toContain("tls-verify=false");
    const ref = `docker://${host}/tls/app:1.0`;
    const pulled = await tool(
      "skopeo",
      ...["copy", "--retry-times", "0", "--src-cert-dir", certDir(), ref, `oci:${join(work, "pulled")}`],
    );
    expect(pulled.code, pulled.out).toBe(0);
    const refused = await tool("skopeo", "inspect", "--retry-times", "0", ref);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/x509: certificate signed by unknown authority/);

    const storage = podmanStorage(join(work, "podman"));
    const podman = await tool("podman", ...storage, "pull", "--cert-dir", certDir(), `${host}/tls/app:1.0`);
    expect(podman.code, podman.out).toBe(0);
    const podmanRefused = await tool("podman", ...storage, "pull", `${host}/tls/app:1.0`);
    expect(podmanRefused.code).not.toBe(0);
    expect(podmanRefused.out).toMatch(/certificate signed by unknown authority/);
  }, 240_000);

  it("raas status checks the registry over TLS (✔), and setup again changes nothing", async () => {
    const status = await cli("status", ISV);
    expect(status.code, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).toMatch(
      new RegExp(`✔ registry app\\s+https://${host} answers /v1/_ping and /v2/ as ${ISV}'s registry`),
    );
    expect(status.stdout).toMatch(/✔ tls\/app\s+1 tag\(s\)/);
    const pid = await readFile(join(raasHome(), ISV, "server.pid"), "utf8");
    const cert = await readFile(join(raasHome(), ISV, "tls", "server.crt"), "utf8");
    const again = await cli("setup", ISV, "--json");
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as Report).changed).toBe(false);
    expect(await readFile(join(raasHome(), ISV, "tls", "server.crt"), "utf8")).toBe(cert);
    expect(await readFile(join(raasHome(), ISV, "server.pid"), "utf8")).toBe(pid);
  }, 120_000);

  it("a certificate that is gone or broken is made again, and the server restarts to serve it", async () => {
    // (Renewal near expiry and for changed host names: src/app/local-tls.test.ts.)
    const before = await servedCertificate(port);
    await writeFile(join(raasHome(), ISV, "tls", "server.crt"), "not a certificate\n");
    const setup = await cli("setup", ISV, "--json");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const report = JSON.parse(setup.stdout) as Report;
    expect(report.changed).toBe(true);
    expect(report.checks.find((c) => c.name === "tls")?.detail).toMatch(
      /^certificate replaced an unreadable certificate: localhost, 127\.0\.0\.1, ::1 until/,
    );
    expect(report.checks.find((c) => c.name === "registry server")?.detail).toMatch(
      /^restarted for the new certificate/,
    );
    const after = await servedCertificate(port);
    expect(after.fingerprint256).not.toBe(before.fingerprint256);
    expect(after.subjectaltname).toBe("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    expect((await cli("status", ISV)).code).toBe(0);
  }, 120_000);
});

describe("plain HTTP when asked", () => {
  const ISV = "tlsoff";
  let work: string;
  let home: string;

  afterAll(async () => {
    await stopBackgroundServer(join(home, "raas"), ISV);
    await rm(work, { recursive: true, force: true });
  });

  it("tls = off in raas.cfg: setup serves plain HTTP and makes no certificate", async () => {
    work = await mkdtemp(join(tmpdir(), "raas-http-"));
    home = join(work, "home");
    const env = cliEnv(home);
    delete env.RAAS_TLS;
    const port = await reservePort(join(home, "raas"), ISV);
    await writeFile(join(work, "raas.cfg"), `[${ISV}]\ntls = off\n`);
    const setup = await runCli(["setup", ISV, "--json"], { cwd: work, env });
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    expect((JSON.parse(setup.stdout) as Report).appUrl).toBe(`http://127.0.0.1:${port}`);
    expect((await fetch(`http://127.0.0.1:${port}/v2/`)).status).toBe(200);
    await expect(stat(join(home, "raas", "raas-ca"))).rejects.toThrow(/ENOENT/);
    await expect(stat(join(home, "raas", ISV, "tls"))).rejects.toThrow(/ENOENT/);
  }, 120_000);
});

describe("environments over HTTPS (the default)", () => {
  const ISV = "tlsenv";
  const ENVS = ["test", "prod"] as const;
  let work: string;
  let home: string;
  let env: NodeJS.ProcessEnv;
  const hosts: Record<string, string> = {};
  const cli = (...argv: string[]) => runCli(argv, { cwd: work, env });

  afterAll(async () => {
    for (const e of ENVS) await stopBackgroundServer(join(home, "raas"), `${ISV}.${e}`);
    await rm(work, { recursive: true, force: true });
  });

  it("promotes test -> prod: promote checks the source over TLS, and skopeo pulls the digest from prod", async () => {
    work = await mkdtemp(join(tmpdir(), "raas-https-envs-"));
    home = join(work, "home");
    env = cliEnv(home);
    delete env.RAAS_TLS;
    for (const e of ENVS) hosts[e] = `127.0.0.1:${await reservePort(join(home, "raas"), `${ISV}.${e}`)}`;
    await writeFile(join(work, "raas.cfg"), `[${ISV}]\nenvironments = ${ENVS.join(" ")}\n`);
    const setup = await cli("setup", ISV, "--json");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const image = await buildOciLayout(join(work, "app.tar"), { name: "acme/app", tag: "1.0", layers: 2 });
    const push = await cli("push", ISV, image.path, "--env", "test", "--json");
    expect(push.code, push.stdout + push.stderr).toBe(0);
    const promote = await cli("promote", ISV, "acme/app:1.0", "--from", "test", "--to", "prod", "--json");
    expect(promote.code, promote.stdout + promote.stderr).toBe(0);
    // --wait asks prod with raas's CA, as push --wait does: served, no certificate error.
    expect((JSON.parse(promote.stdout) as { deployed: boolean | null }).deployed).toBe(true);
    expect(promote.stderr).not.toMatch(/UNABLE_TO_VERIFY|not serving it yet/);
    const certs = join(home, "raas", `${ISV}.prod`, "certs");
    const raw = await run("skopeo", [
      "inspect",
      "--raw",
      "--cert-dir",
      certs,
      `docker://${hosts.prod ?? ""}/acme/app:1.0`,
    ]);
    expect(`sha256:${createHash("sha256").update(raw.stdout).digest("hex")}`).toBe(image.digest);

    // The text output's pull command trusts prod's CA like push's (no --tls-verify=false).
    const again = await cli(
      "promote",
      ISV,
      "acme/app:1.0",
      "--from",
      "test",
      "--to",
      "prod",
      "--as",
      "1.0-rc",
    );
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/UNABLE_TO_VERIFY|not serving it yet/);
    expect(again.stdout).toContain(
      `skopeo inspect --cert-dir ${certs} docker://${hosts.prod ?? ""}/acme/app:1.0-rc`,
    );
    expect(again.stdout + again.stderr).not.toContain("tls-verify=false");

    // demote --wait sees prod stop serving the tag over HTTPS.
    const demote = await cli("demote", ISV, "acme/app:1.0-rc", "--from", "prod", "--json");
    expect(demote.code, demote.stdout + demote.stderr).toBe(0);
    expect((JSON.parse(demote.stdout) as { deployed: boolean | null }).deployed).toBe(true);
    expect(demote.stderr).not.toMatch(/fetch failed|has not picked it up/);
  }, 300_000);
});
