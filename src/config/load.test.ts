import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { InputError, UserError } from "../errors.js";
import { pushFiles, tempDir, tempGitRemote, writeTree } from "../../test/helpers/git.js";
import { disposeConfig, loadConfig } from "./load.js";
import { redact } from "./redact.js";
import { GLOBAL_KEYS, ISV_KEYS } from "./schema.js";
import { packageRoot } from "../adapters/package-root.js";

const HEX = "a".repeat(64);
const HEX2 = "b".repeat(64);

describe("loadConfig on a fresh machine", () => {
  it("uses the embedded defaults under ~/.local/share/raas", async () => {
    const home = await tempDir();
    const config = await loadConfig({ cwd: home, env: { HOME: home } });
    expect(config.source).toEqual({ kind: "defaults" });
    expect(config.stateDir).toBe(path.join(home, ".local", "share", "raas"));
    expect(config.storage).toBe("local");
    expect(config.platform).toBe("local");
    expect(config.s3).toMatchObject({ region: "us-east-1", redirect: "presigned", partSize: 16 * 1024 ** 2 });
    expect(config.warnings).toEqual([]);
  });

  it("honours XDG_DATA_HOME, and RAAS_HOME over it", async () => {
    const home = await tempDir();
    const xdg = path.join(home, "xdg");
    expect((await loadConfig({ cwd: home, env: { HOME: home, XDG_DATA_HOME: xdg } })).stateDir).toBe(
      path.join(xdg, "raas"),
    );
    const config = await loadConfig({
      cwd: home,
      env: { HOME: home, XDG_DATA_HOME: xdg, RAAS_HOME: "state" },
    });
    expect(config.stateDir).toBe(path.join(home, "state"));
  });
});

describe("precedence: defaults < file < env < flags", () => {
  it("layers each key independently", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, {
      "raas.cfg": [
        "[raas]",
        "storage = local",
        "state_dir = ./state",
        "[s3]",
        "region = eu-west-1",
        "concurrency = 8",
        "part_size = 32MiB",
        "[openshift]",
        "token = from-file",
      ].join("\n"),
    });
    const fileOnly = await loadConfig({ cwd, env: { HOME: cwd } });
    expect(fileOnly.source).toEqual({ kind: "file", file: path.join(cwd, "raas.cfg") });
    expect(fileOnly.stateDir).toBe(path.join(cwd, "state"));
    expect(fileOnly.s3.partSize).toBe(32 * 1024 ** 2);

    const env = { HOME: cwd, RAAS_STORAGE: "s3", AWS_REGION: "us-west-2", RAAS_OPENSHIFT_TOKEN: "from-env" };
    const withEnv = await loadConfig({ cwd, env });
    expect([withEnv.storage, withEnv.s3.region, withEnv.openshift.token]).toEqual([
      "s3",
      "us-west-2",
      "from-env",
    ]);
    expect(withEnv.s3.concurrency).toBe(8);

    const withFlags = await loadConfig({ cwd, env, flags: { storage: "local", s3Region: "ap-south-1" } });
    expect([withFlags.storage, withFlags.s3.region]).toEqual(["local", "ap-south-1"]);
  });

  it("remembers where each half of the registry login was set, for messages to name", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, { "raas.cfg": "[auth]\nlogin = carol\nlogin_secret_file = carol.pw\n" });
    const fileOnly = await loadConfig({ cwd, env: { HOME: cwd } });
    expect(fileOnly.auth.login).toEqual({
      name: "carol",
      secretFile: path.join(cwd, "carol.pw"),
      from: { name: "[auth] login", secretFile: "[auth] login_secret_file" },
    });
    const env = { HOME: cwd, RAAS_REGISTRY_SECRET_FILE: "other.pw" };
    const mixed = await loadConfig({ cwd, env });
    expect(mixed.auth.login?.from).toEqual({ name: "[auth] login", secretFile: "RAAS_REGISTRY_SECRET_FILE" });
    const fromEnv = await loadConfig({ cwd, env: { ...env, RAAS_REGISTRY_LOGIN: "dave" } });
    expect(fromEnv.auth.login?.from).toEqual({
      name: "RAAS_REGISTRY_LOGIN",
      secretFile: "RAAS_REGISTRY_SECRET_FILE",
    });
  });

  it("prefers an explicit --config, and fails when it is missing", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, { "raas.cfg": "[raas]\nstorage = local\n", "other.cfg": "[raas]\nstorage = s3\n" });
    expect((await loadConfig({ cwd, env: {}, configPath: "other.cfg" })).storage).toBe("s3");
    const err = await loadConfig({ cwd, env: {}, configPath: "nope.cfg" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain(path.join(cwd, "nope.cfg"));
  });
});

describe("validation", () => {
  it("reports every problem at once, naming the file", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, {
      "raas.cfg": [
        "[raas]",
        "storage = ftp",
        "[s3]",
        "public_read = maybe",
        "part_size = lots",
        "presign_ttl = -5",
        "[acme]",
        "port = 70000",
        "s3_bucket = No_Such!",
        "[Bad.Section]",
        "x = 1",
        "[redhat]",
        "mask_layers = abc",
      ].join("\n"),
    });
    const err = await loadConfig({ cwd, env: { RAAS_S3_ENDPOINT: "ftp://x" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    const message = (err as Error).message;
    expect(message).toContain(path.join(cwd, "raas.cfg"));
    expect(message).toContain("9 problems");
    for (const part of [
      "[raas] storage",
      "[s3] public_read",
      "[s3] part_size",
      "[s3] presign_ttl",
      "[acme] port",
      "[acme] s3_bucket",
      "[Bad.Section]",
      "[redhat] mask_layers",
      "environment variable RAAS_S3_ENDPOINT",
    ]) {
      expect(message).toContain(part);
    }
  });

  it("checks sizes against S3's multipart limits", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, { "raas.cfg": "[s3]\npart_size = 5MB\n" });
    await expect(loadConfig({ cwd, env: {} })).rejects.toThrow(/part_size: "5MB" is outside 5MiB\.\.5GiB/);
  });

  it("warns about unknown keys and accepts the original tool's sections", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, {
      "raas.cfg": "[pulpserver]\nhost = pulp\n[openshift]\ncartridge = x\n[s3]\nregoin = eu\n",
    });
    const config = await loadConfig({ cwd, env: {} });
    expect(config.warnings).toEqual([`${path.join(cwd, "raas.cfg")}: [s3] regoin: unknown key, ignored`]);
  });

  it("reads sections and keys named like Object's own properties as names, touching no global", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, {
      "raas.cfg":
        "[constructor]\ns3_bucket = bucket-one\nconstructor = x\n[tostring]\ns3_bucket = bucket-two\n[acme]\nvalueof = 1\n" +
        "[s3]\nconstructor = 2\npart_size = 10constructor\n",
    });
    const file = path.join(cwd, "raas.cfg");
    await expect(loadConfig({ cwd, env: {} })).rejects.toThrow(/part_size: "10constructor" is not a size/);
    await writeTree(cwd, {
      "raas.cfg":
        "[constructor]\ns3_bucket = bucket-one\nconstructor = x\n[tostring]\ns3_bucket = bucket-two\n[acme]\nvalueof = 1\n",
    });
    const config = await loadConfig({ cwd, env: {} });
    expect(Object.keys(config.isvs).sort()).toEqual(["acme", "constructor", "tostring"]);
    expect(config.isvs["constructor"]?.s3Bucket).toBe("bucket-one");
    expect(config.isvs["valueof"]).toBeUndefined();
    expect(config.warnings.sort()).toEqual([
      `${file}: [acme] valueof: unknown key, ignored`,
      `${file}: [constructor] constructor: unknown key, ignored`,
    ]);
    expect((Object as unknown as Record<string, unknown>)["s3_bucket"]).toBeUndefined();
    // `ini` would drop these without a word: they are reported.
    await writeTree(cwd, { "raas.cfg": "[__proto__]\nbucket = b\n[acme]\n__proto__ = x\n" });
    const err = await loadConfig({ cwd, env: {} }).catch((e: unknown) => e);
    expect(String(err)).toContain("[__proto__]: not a usable section name");
    expect(String(err)).toContain("[acme] __proto__: not a usable key");
  });

  it("reads configparser syntax: `key: value` and continued mask_layers", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, {
      "raas.cfg": `[redhat]\nmask_layers: ${HEX},\n    sha256:${HEX2}\n  ${HEX}\n[openshift]\nserver_url: https://api.c.example:6443\n`,
    });
    const config = await loadConfig({ cwd, env: {} });
    expect(config.maskLayers).toEqual([HEX, `sha256:${HEX2}`]);
    expect(config.openshift.serverUrl).toBe("https://api.c.example:6443");
  });

  it("refuses a public redirect to private objects", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, { "raas.cfg": "[s3]\nredirect = public\n" });
    await expect(loadConfig({ cwd, env: {} })).rejects.toThrow(/public_read = true or public_base_url/);
  });
});

describe("the config repository (RAAS_CONF_REPO)", () => {
  it("clones the branch named by the config environment and keeps the clone", async () => {
    const { remote } = await tempGitRemote({
      branch: "stage",
      files: { "raas.cfg": "[s3]\nregion = eu-west-1\n" },
    });
    await pushFiles(remote, "prod", { "raas.cfg": "[s3]\nregion = us-west-2\n" }, "prod config");
    const cwd = await tempDir();
    const stage = await loadConfig({ cwd, env: { RAAS_CONF_REPO: remote } });
    expect(stage.s3.region).toBe("eu-west-1");
    const prod = await loadConfig({ cwd, env: { RAAS_CONF_REPO: remote }, configEnv: "prod" });
    expect(prod.s3.region).toBe("us-west-2");
    if (prod.source.kind !== "conf-repo") throw new Error("expected a conf-repo source");
    expect(prod.source.repo.branch).toBe("prod");
    expect(existsSync(path.join(prod.source.repo.dir, ".git"))).toBe(true);
    await disposeConfig(stage);
    await disposeConfig(prod);
    expect(existsSync(prod.source.repo.dir)).toBe(false);
  });

  it("is not consulted when the current directory has raas.cfg", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, { "raas.cfg": "[raas]\nstorage = s3\n" });
    const config = await loadConfig({ cwd, env: { RAAS_CONF_REPO: path.join(cwd, "missing.git") } });
    expect(config.source.kind).toBe("file");
  });

  it("names the repository and branch when the branch or raas.cfg is missing", async () => {
    const { remote } = await tempGitRemote({ branch: "stage", files: { "README.md": "no config here\n" } });
    const cwd = await tempDir();
    await expect(loadConfig({ cwd, env: { RAAS_CONF_REPO: remote } })).rejects.toThrow(
      `the config repository ${remote} (branch stage) has no raas.cfg`,
    );
    const err = await loadConfig({ cwd, env: { RAAS_CONF_REPO: remote }, configEnv: "qa" }).catch(
      (e: unknown) => e,
    );
    expect((err as UserError).code).toBe("GIT_NO_BRANCH");
    expect((err as Error).message).toContain(remote);
  });
});

describe("redact", () => {
  it("removes every secret from what gets printed", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, {
      "raas.cfg": [
        "[openshift]",
        "token = sha256~topsecret",
        "app_git_url = https://bot:gitpass@git.example/app.git",
        "[aws]",
        "aws_access_key = AKIAEXAMPLE",
        "aws_secret_access_key = awssecret",
        "[acme]",
        "app_git_url = https://bot:isvpass@git.example/acme.git",
      ].join("\n"),
    });
    const config = await loadConfig({ cwd, env: {} });
    const printed = JSON.stringify(redact(config));
    for (const secret of ["topsecret", "gitpass", "AKIAEXAMPLE", "awssecret", "isvpass"]) {
      expect(printed).not.toContain(secret);
    }
    expect(printed).toContain("https://***@git.example/acme.git");
    expect(config.aws.secretAccessKey).toBe("awssecret");
  });
});

describe("raas.cfg.template", () => {
  it("loads cleanly and documents every key", async () => {
    const file = path.join(packageRoot(), "raas.cfg.template");
    const config = await loadConfig({ cwd: await tempDir(), env: {}, configPath: file });
    expect(config.warnings).toEqual([]);
    const text = await readFile(file, "utf8");
    for (const spec of [...Object.values(GLOBAL_KEYS), ...Object.values(ISV_KEYS)]) {
      expect(text).toMatch(new RegExp(`^;?${spec.key} [=:]`, "m"));
      if (spec.env !== undefined) expect(text).toContain(spec.env);
    }
  });
});

describe("[push] in raas.cfg", () => {
  it("is off unless enabled, an ISV's push key overrides it, and bad values are named", async () => {
    const cwd = await tempDir();
    await writeTree(cwd, {
      "raas.cfg":
        "[push]\nenable = yes\nmax_blob_size = 2GiB\nwrite_once_tags = acme/releases/, acme/base\n[acme]\npush = false\n",
    });
    const config = await loadConfig({ cwd, env: {} });
    expect(config.push).toEqual({
      enable: true,
      allowDelete: false,
      maxBlobSize: 2 * 1024 ** 3,
      writeOnceTags: ["acme/releases/", "acme/base"],
    });
    expect(config.isvs.acme?.push).toBe(false);
    await writeTree(cwd, {
      "raas.cfg": "[push]\nenable = maybe\nwrite_once_tags = Acme/x, ../etc, ok/\nupload_max_age = 5\n",
    });
    const err = await loadConfig({ cwd, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    const message = (err as Error).message;
    expect(message).toContain('[push] enable: "maybe" is not a boolean');
    expect(message).toContain('[push] write_once_tags: invalid item(s): "Acme/x", "../etc"');
    expect(message).toContain('[push] upload_max_age: "5" is not a number of seconds between 60 and 2592000');
  });
});
