import { createServer, type Server } from "node:net";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { UsageError, UserError } from "../errors.js";
import { tempDir, writeTree } from "../../test/helpers/git.js";
import { resolveIsv } from "./isv.js";
import { loadConfig } from "./load.js";
import { FIRST_PORT } from "./ports.js";

async function configFrom(text: string | undefined, env: Record<string, string> = {}) {
  const cwd = await tempDir();
  if (text !== undefined) await writeTree(cwd, { "raas.cfg": text });
  return loadConfig({ cwd, env: { HOME: cwd, RAAS_HOME: path.join(cwd, "state"), ...env } });
}

describe("resolveIsv on the local platform", () => {
  it("puts everything under stateDir/<isv> and remembers the allocated port", async () => {
    const config = await configFrom(undefined);
    const acme = await resolveIsv(config, "acme");
    const isvDir = path.join(config.stateDir, "acme");
    expect(acme.storage).toEqual({ kind: "local", root: path.join(isvDir, "storage") });
    expect(acme).toMatchObject({
      isvDir,
      appRemote: path.join(isvDir, "app.git"),
      appWorkDir: path.join(isvDir, "app"),
      deployDir: path.join(isvDir, "deploy"),
      appBranch: "main",
      appUrl: `https://127.0.0.1:${acme.platform.kind === "local" ? acme.platform.port : 0}`,
    });
    if (acme.platform.kind !== "local") throw new Error("expected the local platform");
    expect(acme.platform.port).toBeGreaterThanOrEqual(FIRST_PORT);
    const recorded = JSON.parse(await readFile(path.join(isvDir, "platform.json"), "utf8")) as {
      port: number;
    };
    expect(recorded.port).toBe(acme.platform.port);
    const again = await resolveIsv(config, "acme");
    expect(again.appUrl).toBe(acme.appUrl);
    const other = await resolveIsv(config, "globex");
    expect(other.appUrl).not.toBe(acme.appUrl);
  });

  it("reads but never records a port when asked not to allocate (every command but setup)", async () => {
    const config = await configFrom(undefined);
    const unknown = await resolveIsv(config, "typo", { allocate: false });
    expect(unknown.appUrl).toBe(`https://127.0.0.1:${FIRST_PORT}`);
    await expect(readFile(path.join(config.stateDir, "typo", "platform.json"), "utf8")).rejects.toThrow(
      /ENOENT/,
    );
    const known = await resolveIsv(config, "acme");
    expect((await resolveIsv(config, "acme", { allocate: false })).appUrl).toBe(known.appUrl);
  });

  it("skips ports that are in use", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve, reject) => {
      blocker.once("error", reject);
      blocker.listen(FIRST_PORT, "127.0.0.1", resolve);
    }).catch(() => undefined);
    onTestFinished(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const settings = await resolveIsv(await configFrom(undefined), "acme");
    expect(settings.appUrl).not.toBe(`https://127.0.0.1:${FIRST_PORT}`);
  });

  it("refuses app_git_url, which only OpenShift reads, before recording anything", async () => {
    const config = await configFrom("[acme]\napp_git_url = https://git.example.com/acme/app.git\n");
    const refused = await resolveIsv(config, "acme").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UserError);
    expect((refused as UserError).message).toContain(
      `[acme] app_git_url is read only with platform = openshift; the local platform's app repository is ${path.join(config.stateDir, "acme", "app.git")}`,
    );
    await expect(readFile(path.join(config.stateDir, "acme", "platform.json"), "utf8")).rejects.toThrow(
      /ENOENT/,
    );
  });

  it("uses a configured port, and an override over it", async () => {
    const config = await configFrom("[acme]\nport = 5123\n");
    expect((await resolveIsv(config, "acme")).appUrl).toBe("https://127.0.0.1:5123");
    expect((await resolveIsv(config, "acme", { port: 5200 })).appUrl).toBe("https://127.0.0.1:5200");
  });

  it("serves HTTPS by default with raas's CA; plain HTTP only when asked, per ISV or for all", async () => {
    const config = await configFrom("[acme]\nport = 5123\napp_url = https://reg.acme.test:5123\n");
    const acme = await resolveIsv(config, "acme");
    const isvDir = path.join(config.stateDir, "acme");
    expect(acme.tls).toEqual({
      managed: true,
      certFile: path.join(isvDir, "tls", "server.crt"),
      keyFile: path.join(isvDir, "tls", "server.key"),
      caFile: path.join(config.stateDir, "raas-ca", "ca.crt"),
      certDir: path.join(isvDir, "certs"),
      hosts: ["localhost", "127.0.0.1", "::1", "reg.acme.test"],
    });
    const off = await resolveIsv(await configFrom("[acme]\nport = 5123\ntls = off\n"), "acme");
    expect(off.tls).toBeUndefined();
    expect(off.appUrl).toBe("http://127.0.0.1:5123");
    const allOff = await resolveIsv(await configFrom("[acme]\nport = 5124\n", { RAAS_TLS: "off" }), "acme");
    expect(allOff.appUrl).toBe("http://127.0.0.1:5124");
    // The ISV's key wins over the global one.
    const back = await resolveIsv(
      await configFrom("[raas]\ntls = off\n[acme]\nport = 5125\ntls = on\n"),
      "acme",
    );
    expect(back.appUrl).toBe("https://127.0.0.1:5125");
  });

  it("uses the operator's certificate, and refuses an app_url whose scheme the server would not speak", async () => {
    const config = await configFrom(
      "[raas]\ntls_cert = pki/reg.crt\ntls_key = pki/reg.key\ntls_ca = pki/ca.crt\n[acme]\nport = 5126\n",
    );
    const acme = await resolveIsv(config, "acme");
    const dir = path.dirname(config.source.kind === "file" ? config.source.file : "");
    expect(acme.tls).toMatchObject({
      managed: false,
      certFile: path.join(dir, "pki", "reg.crt"),
      keyFile: path.join(dir, "pki", "reg.key"),
      caFile: path.join(dir, "pki", "ca.crt"),
      certDir: path.join(config.stateDir, "acme", "certs"),
    });
    await expect(
      resolveIsv(await configFrom("[acme]\nport = 5127\napp_url = http://reg.acme.test:5127\n"), "acme"),
    ).rejects.toThrow(
      /\[acme\] app_url http:\/\/reg\.acme\.test:5127: the local registry serves HTTPS; use https:\/\/ or set tls = off/,
    );
    await expect(configFrom("[raas]\ntls_cert = a.crt\n")).rejects.toThrow(
      /tls_cert and tls_key must be given together/,
    );
    await expect(configFrom("[raas]\ntls = maybe\n")).rejects.toThrow(/\[raas\] tls/);
  });

  it("rejects an invalid ISV name before building any path", async () => {
    const config = await configFrom(undefined);
    await expect(resolveIsv(config, "../etc")).rejects.toBeInstanceOf(UsageError);
    await expect(resolveIsv(config, "Acme")).rejects.toThrow(/not a valid ISV name/);
  });
});

describe("resolveIsv with S3 storage", () => {
  it("defaults the bucket to raas-<isv> and path style for custom endpoints", async () => {
    const config = await configFrom("[raas]\nstorage = s3\n[s3]\nendpoint = http://127.0.0.1:9000\n", {
      AWS_ACCESS_KEY_ID: "id",
      AWS_SECRET_ACCESS_KEY: "secret",
    });
    const settings = await resolveIsv(config, "acme");
    expect(settings.storage).toMatchObject({
      kind: "s3",
      bucket: "raas-acme",
      endpoint: "http://127.0.0.1:9000",
      forcePathStyle: true,
      credentials: { accessKeyId: "id", secretAccessKey: "secret" },
      redirect: "presigned",
      presignTtl: 900,
    });
  });

  it("takes the ISV's bucket and storage kind from its section, and --s3bucket over it", async () => {
    const config = await configFrom("[acme]\nstorage = s3\ns3_bucket = acme-images\n");
    const settings = await resolveIsv(config, "acme");
    expect(settings.storage).toMatchObject({ kind: "s3", bucket: "acme-images", forcePathStyle: false });
    expect(settings.storage).toMatchObject({ credentials: undefined });
    expect((await resolveIsv(config, "acme", { bucket: "other-bucket" })).storage).toMatchObject({
      bucket: "other-bucket",
    });
    await expect(resolveIsv(config, "acme", { bucket: "Bad!" })).rejects.toThrow(/--s3bucket/);
  });
});

describe("resolveIsv on OpenShift", () => {
  it("derives the route host from the API URL", async () => {
    const config = await configFrom(
      "[openshift]\nserver_url = https://api.c1.example.com:6443\n[acme]\nplatform = openshift\napp_git_url = https://git.example/acme.git\nopenshift_domain = acme-prod\n",
    );
    const settings = await resolveIsv(config, "acme");
    expect(settings.platform).toMatchObject({
      kind: "openshift",
      namespace: "acme-prod",
      appName: "registry",
      routeHost: "registry-acme-prod.apps.c1.example.com",
    });
    expect(settings.appUrl).toBe("https://registry-acme-prod.apps.c1.example.com");
    expect(settings.appRemote).toBe("https://git.example/acme.git");
    expect(settings.deployDir).toBeUndefined();
  });

  it("lists every missing setting at once", async () => {
    const config = await configFrom("[raas]\nplatform = openshift\n");
    const err = await resolveIsv(config, "acme").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain("[openshift] server_url is required");
    expect((err as Error).message).toContain("[acme] app_git_url is required");
  });
});
