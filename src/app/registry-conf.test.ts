/**
 * registry.conf is read alike by raas's server and by Pulp Crane 3.3. Crane is Python 2-era
 * code that cannot run here; the Python below stands in for its config loading
 * (crane/config.py `read_config`, FORMATS.md §2.10): each section read on its own with Python's
 * ConfigParser, `getboolean('general', 'debug')` without a fallback (a missing `debug` stops
 * Crane at start), `int()` of the polling interval, the serve_content booleans, and paths taken
 * as they are, so a relative one is relative to Crane's working directory.
 */
import { spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { resolveIsv } from "../config/isv.js";
import { loadConfig } from "../config/load.js";
import type { IsvSettings } from "../config/types.js";
import { UserError } from "../errors.js";
import { loadServerConfig } from "../server/config.js";
import { reservePort } from "../../test/helpers/cli.js";
import { tempDir, writeTree } from "../../test/helpers/git.js";
import { IMAGE_APP_DIR, IMAGE_AUTH_KEY_DIR, registryConf } from "./registry-conf.js";

const CRANE_READ = `
import configparser, json, os, sys
p = configparser.ConfigParser(inline_comment_prefixes=(";",), strict=False)
with open(sys.argv[1]) as f:
    p.read_file(f)
out = {
    "debug": p.getboolean("general", "debug"),
    "data_dir": os.path.abspath(p.get("general", "data_dir")),
    "polling": int(p.get("general", "data_dir_polling_interval")),
    "endpoint": p.get("general", "endpoint"),
    "enable": p.getboolean("serve_content", "enable"),
    "use_x_sendfile": p.getboolean("serve_content", "use_x_sendfile"),
}
if p.has_option("serve_content", "content_dir_v2"):
    out["content_dir_v1"] = os.path.abspath(p.get("serve_content", "content_dir_v1"))
    out["content_dir_v2"] = os.path.abspath(p.get("serve_content", "content_dir_v2"))
print(json.dumps(out))
`;

const hasPython = spawnSync("python3", ["-c", "import configparser"]).status === 0;

async function settingsFor(cfg: string, stateName = "state"): Promise<IsvSettings> {
  const cwd = await tempDir();
  await writeTree(cwd, { "raas.cfg": cfg });
  const env = { HOME: cwd, RAAS_HOME: path.join(cwd, stateName) };
  await reservePort(path.join(cwd, stateName), "acme");
  return resolveIsv(await loadConfig({ cwd, env }), "acme");
}

/** What Crane would read, run from a working directory that is not the file's. */
async function craneReads(file: string): Promise<Record<string, unknown>> {
  const run = spawnSync("python3", ["-c", CRANE_READ, file], { cwd: await tempDir(), encoding: "utf8" });
  if (run.status !== 0) throw new Error(`Crane's config loading fails:\n${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

async function bothRead(conf: string) {
  const dir = await tempDir();
  const file = path.join(dir, "registry.conf");
  await writeFile(file, conf);
  const raas = await loadServerConfig(file, {});
  return { crane: await craneReads(file), raas };
}

describe.runIf(hasPython)("registry.conf, as Crane 3.3 and raas read it", () => {
  it("local storage: same data dir, interval, endpoint and content dirs (an odd state dir too)", async () => {
    const settings = await settingsFor("[acme]\nstorage = local\n", "it's [a=b] state");
    // Both disable serve_content when the directory is missing; setup creates it.
    if (settings.storage.kind === "local") await mkdir(settings.storage.root, { recursive: true });
    const { crane, raas } = await bothRead(registryConf(settings, { endpoint: "registry.example.com:5000" }));
    const deployDir = settings.platform.kind === "local" ? settings.platform.deployDir : "";
    const root = settings.storage.kind === "local" ? settings.storage.root : "";
    expect(crane).toEqual({
      debug: false,
      data_dir: path.join(deployDir, "data"),
      polling: 2,
      endpoint: "registry.example.com:5000",
      enable: true,
      use_x_sendfile: false,
      content_dir_v1: root,
      content_dir_v2: root,
    });
    expect({
      debug: raas.debug,
      data_dir: raas.dataDir,
      polling: raas.pollingInterval,
      endpoint: raas.endpoint,
      enable: raas.serveContent.enable,
      use_x_sendfile: raas.serveContent.useXSendfile,
      content_dir_v1: raas.serveContent.contentDirV1,
      content_dir_v2: raas.serveContent.contentDirV2,
    }).toEqual(crane);
    expect(raas.warnings).toEqual([]);
  });

  it("S3 storage: serve_content off for both, the directories left to their defaults", async () => {
    const settings = await settingsFor("[s3]\nredirect = presigned\n[acme]\nstorage = s3\n");
    const { crane, raas } = await bothRead(registryConf(settings));
    expect(crane).toMatchObject({ debug: false, enable: false, use_x_sendfile: false, endpoint: "" });
    expect(crane.content_dir_v2).toBeUndefined();
    expect([raas.dataDir, raas.serveContent.enable, raas.serveContent.useXSendfile]).toEqual([
      crane.data_dir,
      false,
      false,
    ]);
    expect(raas.storage).toMatchObject({ kind: "s3", bucket: "raas-acme", redirect: "presigned" });
  });
});

describe("registry.conf", () => {
  it("names the image's absolute paths for a container platform", async () => {
    const local = await settingsFor("[acme]\nstorage = local\n");
    const openshift: IsvSettings = {
      ...local,
      platform: {
        kind: "openshift",
        serverUrl: "https://api.example.com:6443",
        token: undefined,
        namespace: "acme",
        appName: "registry",
        scale: true,
        follow: false,
        routeHost: "registry-acme.apps.example.com",
      },
    };
    const conf = registryConf(openshift);
    expect(conf).toContain(`data_dir = ${IMAGE_APP_DIR}/data\n`);
    expect(conf).toContain(`manifest_dir = ${IMAGE_APP_DIR}/manifests\n`);
    expect(conf).toMatch(/^\[general\]\ndebug = false\n/m);
  });

  it("writes [auth] from raas.cfg so the server reads it back: keys in the state dir, policy in the app", async () => {
    const settings = await settingsFor(
      "[auth]\nmode = local\nprivate_blob_ttl = 60\n[acme]\nstorage = local\n",
    );
    if (settings.storage.kind === "local") await mkdir(settings.storage.root, { recursive: true });
    const { raas } = await bothRead(registryConf(settings));
    const deployDir = settings.platform.kind === "local" ? settings.platform.deployDir : "";
    expect(raas.auth).toEqual({
      mode: "local",
      realm: `${settings.appUrl}/token`,
      service: new URL(settings.appUrl).host,
      issuer: "raas",
      keyDir: settings.isvDir,
      // Locally the key file must be 0600; only a Secret volume (OpenShift) may be group-readable.
      keyGroupRead: false,
      policyFile: path.join(deployDir, "access.yaml"),
      tokenTtl: 300,
      sessionTtl: 3600,
      basic: false,
      privateTtl: 60,
    });
    // On OpenShift the keys come from the Secret mounted into the pod.
    const openshift: IsvSettings = {
      ...settings,
      platform: {
        kind: "openshift",
        serverUrl: "https://api.example.com:6443",
        token: undefined,
        namespace: "acme",
        appName: "registry",
        scale: true,
        follow: false,
        routeHost: "registry-acme.apps.example.com",
      },
    };
    expect(registryConf(openshift)).toContain(
      `key_dir = ${IMAGE_AUTH_KEY_DIR}\nkey_group_read = true\npolicy_file = ${IMAGE_APP_DIR}/access.yaml\n`,
    );
    // Off: no [auth] section at all, exactly the file of before.
    expect(registryConf({ ...settings, auth: { ...settings.auth!, mode: "off" } })).not.toContain("[auth]");
  });

  it("writes [push] from raas.cfg so the server reads it back, on S3 and in a container too", async () => {
    const settings = await settingsFor(
      "[auth]\nmode = local\n[push]\nenable = true\nallow_delete = true\nupload_max_age = 3600\n" +
        "[s3]\npublic_read = true\nredirect = public\n[acme]\nstorage = s3\n",
    );
    const { raas } = await bothRead(registryConf(settings));
    expect(raas.push).toMatchObject({
      enable: true,
      unauthenticatedLoopback: false,
      appRemote: path.resolve(settings.appRemote),
      appBranch: "main",
      cloneDir: path.join(settings.isvDir, "push-clones"),
      maxBlobSize: 16 * 1024 ** 3,
      publicRead: true,
      writeOnceTags: [],
      uploadMaxAge: 3600,
      allowDelete: true,
    });
    // In a container: the app_git_url as given, the clones in the temp dir; never credentials.
    const openshift: IsvSettings = {
      ...settings,
      appRemote: "https://git.example.com/acme/registry.git",
      platform: {
        kind: "openshift",
        serverUrl: "https://api.example.com:6443",
        token: undefined,
        namespace: "acme",
        appName: "registry",
        scale: true,
        follow: false,
        routeHost: "registry-acme.apps.example.com",
      },
    };
    const inImage = registryConf(openshift);
    expect(inImage).toContain(
      "[push]\nenable = true\napp_remote = https://git.example.com/acme/registry.git\n",
    );
    expect(inImage).not.toContain("clone_dir");
    const withToken = { ...openshift, appRemote: "https://bot:tok3n@git.example.com/acme/registry.git" };
    expect(() => registryConf(withToken)).toThrow(/the app_git_url holds credentials/);
    expect(() => registryConf(withToken)).not.toThrow(/tok3n/);
    // Off, or no login: no [push] (setup refuses the second, naming the fix).
    expect(registryConf({ ...settings, push: { ...settings.push!, enable: false } })).not.toContain("[push]");
    const noLogin = () => registryConf({ ...settings, auth: { ...settings.auth!, mode: "off" } });
    expect(noLogin).toThrow(UserError);
    expect(noLogin).toThrow("cannot turn on the write API for acme: pushes need a login, and auth is off");
  });

  it("refuses values the two readers would read differently, naming the key", async () => {
    const settings = await settingsFor("[acme]\nstorage = local\n");
    for (const root of ["/srv/a;b", "/srv/#x", "/srv/%(home)s", "/srv/a\\;b", "/srv/a\nb", "/srv/x "]) {
      const err = (() => {
        try {
          registryConf({ ...settings, storage: { kind: "local", root } });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(UserError);
      expect((err as UserError).message).toContain("[serve_content] content_dir_v1");
    }
  });
});
