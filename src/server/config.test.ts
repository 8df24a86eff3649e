import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadServerConfig } from "./config.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-config-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function load(text: string, env: NodeJS.ProcessEnv = {}) {
  const file = join(dir, "registry.conf");
  await writeFile(file, text);
  return loadServerConfig(file, env);
}

describe("loadServerConfig", () => {
  it("uses Crane's defaults and the raas ones", async () => {
    const config = await load("");
    expect(config).toMatchObject({
      debug: false,
      dataDir: "/var/lib/crane/metadata",
      pollingInterval: 60,
      endpoint: "",
      cdn: { authTtl: 300, authParam: "_auth_", authAlgo: "sha256", urlMatch: "" },
      serveContent: { enable: false, useXSendfile: true },
      manifestDir: join(dir, "manifests"),
      listen: "0.0.0.0",
      port: 5000,
      storage: { redirect: "public", presignTtl: 1200 },
    });
  });

  it("reads the lifecycle environment setup writes, and refuses a malformed one naming the file", async () => {
    expect((await load("")).environment).toBeUndefined();
    expect(
      (await load("[raas]\nenvironment = prod\npromote_only = true\npromote_from = uat\n")).environment,
    ).toEqual({
      name: "prod",
      promoteOnly: true,
      promoteFrom: "uat",
      sharedStore: false,
      ownRecords: false,
    });
    expect((await load("[raas]\nenvironment = test\n")).environment).toEqual({
      name: "test",
      promoteOnly: false,
      promoteFrom: "",
      sharedStore: false,
      ownRecords: false,
    });
    expect(
      (await load("[raas]\nenvironment = uat\nshared_store = true\nown_records = true\n")).environment,
    ).toMatchObject({ name: "uat", sharedStore: true, ownRecords: true });
    // The keys of a shared store mean nothing without the environment whose view they select.
    await expect(load("[raas]\nshared_store = true\n")).rejects.toThrow(
      /registry\.conf: \[raas\] shared_store is for a lifecycle environment, but \[raas\] environment is not set/,
    );
    await expect(load("[raas]\nenvironment = uat\nown_records = true\n")).rejects.toThrow(
      /\[raas\] own_records is for an environment on a shared store/,
    );
    await expect(load("[raas]\nenvironment = uat\nshared_store = maybe\n")).rejects.toThrow(/shared_store/);
    await expect(load("[raas]\nenvironment = ../prod\n")).rejects.toThrow(
      /registry\.conf: \[raas\] environment must be an environment name/,
    );
    await expect(load("[raas]\nenvironment = prod\npromote_from = Uat X\n")).rejects.toThrow(
      /\[raas\] promote_from must be an environment name/,
    );
  });

  it("reads ConfigParser syntax (key: value), booleans and paths relative to the file", async () => {
    const config = await load(
      "[general]\ndebug: yes\ndata_dir: data\ndata_dir_polling_interval = 5\nendpoint: reg.example.com:443\n" +
        "[cdn]\nurl_match: a\nurl_replace: b\nurl_auth_secret: abc123\nurl_auth_algo: md5\n" +
        "[raas]\nport: 6000\n[storage]\nkind = s3\nbucket = b\nredirect = presigned\nforce_path_style = on\n",
    );
    expect(config.debug).toBe(true);
    expect(config.dataDir).toBe(join(dir, "data"));
    expect(config.pollingInterval).toBe(5);
    expect(config.endpoint).toBe("reg.example.com:443");
    expect(config.cdn.authSecret?.toString("hex")).toBe("abc123");
    expect(config.cdn.authAlgo).toBe("md5");
    expect(config.port).toBe(6000);
    expect(config.storage).toMatchObject({
      kind: "s3",
      bucket: "b",
      redirect: "presigned",
      forcePathStyle: true,
    });
  });

  it("reads the file as raas.cfg is read: case-insensitive keys, continued values, stray lines reported", async () => {
    const config = await load(
      "stray = 1\n[general]\nDebug = On\n[search]\nofficial = acme-app,\n  acme-tools\n[raas]\nPort: 6001\n",
    );
    expect(config.debug).toBe(true);
    expect(config.port).toBe(6001);
    expect([...config.search.official]).toEqual(["acme-app", "acme-tools"]);
    expect(config.warnings).toEqual([
      `${join(dir, "registry.conf")}: stray: setting outside of any [section]`,
    ]);
  });

  it("lets PORT, CRANE_DEBUG and CRANE_CONFIG_PATH override", async () => {
    const file = join(dir, "other.conf");
    await writeFile(file, "[raas]\nport: 6000\n");
    const config = await loadServerConfig(undefined, {
      CRANE_CONFIG_PATH: file,
      PORT: "7000",
      CRANE_DEBUG: "TRUE",
    });
    expect([config.file, config.port, config.debug]).toEqual([file, 7000, true]);
  });

  it("fails on an explicitly named missing file, and on bad values", async () => {
    await expect(loadServerConfig(join(dir, "missing.conf"), {})).rejects.toThrow(
      /cannot read registry config .*missing\.conf: ENOENT/,
    );
    await expect(load("[general]\ndebug: maybe\n")).rejects.toThrow("[general] debug must be a boolean");
    await expect(load("[general]\ndata_dir_polling_interval: soon\n")).rejects.toThrow("must be a number");
    await expect(load("[storage]\nredirect: sometimes\n")).rejects.toThrow('"public" or "presigned"');
    await expect(load("[storage]\nredirect: presigned\n")).rejects.toThrow("needs kind = s3 and a bucket");
  });

  it("disables serve_content with a warning when a content dir is missing, and ignores a non-hex secret", async () => {
    const config = await load(
      "[serve_content]\nenable: true\ncontent_dir_v1: nope\ncontent_dir_v2: nope2\n[cdn]\nurl_auth_secret: xyz\n",
    );
    expect(config.serveContent.enable).toBe(false);
    expect(config.cdn.authSecret).toBeUndefined();
    expect(config.warnings.join("\n")).toMatch(/does not exist; serve_content is disabled/);
    expect(config.warnings.join("\n")).toMatch(/url_auth_secret is not valid hex/);
  });

  it("reads [auth] and refuses a half-configured or unprotectable one, naming the key", async () => {
    const base = "[serve_content]\nenable = false\n[storage]\nkind = s3\nbucket = b\n";
    expect((await load(base)).auth).toEqual({ mode: "off" });
    const local = await load(
      `${base}[auth]\nmode = local\nrealm = https://reg.example/token\nservice = reg.example\nkey_dir = state\npolicy_file = access.yaml\n`,
    );
    expect(local.auth).toEqual({
      mode: "local",
      realm: "https://reg.example/token",
      service: "reg.example",
      issuer: "raas",
      keyDir: join(dir, "state"),
      keyGroupRead: false,
      policyFile: join(dir, "access.yaml"),
      tokenTtl: 300,
      sessionTtl: 3600,
      basic: false,
      privateTtl: 300,
    });
    await expect(
      load(
        `${base}[auth]\nmode = local\nrealm = https://r.example/token\nservice = r\nkey_dir = s\npolicy_file = a\nsession_ttl = 60\n`,
      ),
    ).rejects.toThrow(/\[auth\] session_ttl must be 300 to 43200 seconds/);
    await expect(load(`${base}[auth]\nmode = on\n`)).rejects.toThrow(
      /\[auth\] mode must be "off", "local" or "external", not "on"/,
    );
    await expect(load(`${base}[auth]\nmode = local\nservice = x\n`)).rejects.toThrow(
      /\[auth\] realm is required/,
    );
    await expect(
      load(`${base}[auth]\nmode = local\nrealm = https://r/token\nservice = x\nkey_dir = k\n`),
    ).rejects.toThrow(/\[auth\] policy_file is required/);
    await expect(
      load(`${base}[auth]\nmode = external\nrealm = https://r/token\nservice = x\nissuer = i\n`),
    ).rejects.toThrow(/exactly one of root_certs and jwks/);
    // Neither S3 (presigning) nor serve_content: private blobs could only go to public URLs.
    await expect(
      load("[auth]\nmode = local\nrealm = https://r/token\nservice = x\nkey_dir = k\npolicy_file = a\n"),
    ).rejects.toThrow(/needs \[serve_content\] enable or \[storage\] kind = s3/);
  });
});
