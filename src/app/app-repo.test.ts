import { existsSync } from "node:fs";
import { chmod, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../config/load.js";
import { resolveIsv } from "../config/isv.js";
import { RecordingReporter } from "../ui/reporter.js";
import { publishFiles } from "../../test/helpers/app-repo.js";
import { fakeRaasPackage, gitOut, tempDir, writeTree } from "../../test/helpers/git.js";
import { ensureAppRepo } from "./app-repo.js";
import { packageRoot } from "../adapters/package-root.js";

async function settingsFor(isv: string, cfg?: string, env: Record<string, string> = {}) {
  const cwd = await tempDir();
  if (cfg !== undefined) await writeTree(cwd, { "raas.cfg": cfg });
  const config = await loadConfig({ cwd, env: { HOME: cwd, RAAS_HOME: path.join(cwd, "state"), ...env } });
  return resolveIsv(config, isv);
}

describe("ensureAppRepo on the local platform", () => {
  it("creates the remote, renders the app, deploys it, and is idempotent", async () => {
    const root = await fakeRaasPackage(packageRoot());
    const settings = await settingsFor("acme");
    const reporter = new RecordingReporter();
    const first = await ensureAppRepo(settings, { reporter, packageRoot: root });
    expect(first.changed).toBe(true);
    expect(first.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(gitOut(settings.appRemote, ["rev-parse", settings.appBranch])).toBe(first.commit);
    expect(gitOut(settings.appRemote, ["log", "-1", "--format=%s", settings.appBranch])).toBe("acme setup");

    const tracked = gitOut(settings.appRemote, ["ls-tree", "-r", "--name-only", settings.appBranch]).split(
      "\n",
    );
    expect(tracked).toEqual(
      expect.arrayContaining([
        ".gitignore",
        "Containerfile",
        "README.md",
        "data/.gitkeep",
        "manifests/.gitkeep",
        "openshift/deployment.yaml",
        "openshift/hpa.yaml",
        "openshift/route.yaml",
        "openshift/service.yaml",
        "package.json",
        "registry.conf",
        "server/main.js",
        "server/main.js.LEGAL.txt",
      ]),
    );
    expect(tracked.some((f) => f.endsWith(".tmpl"))).toBe(false);

    // The post-receive hook deployed the push.
    const deployDir = settings.deployDir ?? "";
    const conf = await readFile(path.join(deployDir, "registry.conf"), "utf8");
    if (settings.storage.kind !== "local" || settings.platform.kind !== "local") {
      throw new Error("expected local");
    }
    expect(conf).toContain(`content_dir_v2 = ${settings.storage.root}`);
    expect(conf).toMatch(/\[serve_content\]\nenable = true/);
    expect(conf).toContain(`port = ${settings.platform.port}`);
    expect(conf).not.toContain("[storage]");

    const pkg = JSON.parse(await readFile(path.join(deployDir, "package.json"), "utf8")) as {
      name: string;
      type: string;
      scripts: Record<string, string>;
      dependencies: Record<string, string>;
    };
    expect(pkg).toMatchObject({ name: "acme-registry", type: "module" });
    expect(pkg.scripts.start).toBe("node --no-memory-reducer server/main.js --config registry.conf");
    // The bundle carries the server's dependencies: nothing to install in the app.
    expect(pkg.dependencies).toBeUndefined();

    const second = await ensureAppRepo(settings, { reporter, packageRoot: root });
    expect(second.changed).toBe(false);
    expect(second.commit).toBeUndefined();
    expect(gitOut(settings.appRemote, ["rev-list", "--count", settings.appBranch])).toBe("1");
  });

  it("recomputes a setup whose push lost a race, keeping what the winner pushed", async () => {
    const root = await fakeRaasPackage(packageRoot());
    const settings = await settingsFor("acme");
    const reporter = new RecordingReporter();
    const { workDir } = await ensureAppRepo(settings, { reporter, packageRoot: root });
    // The first push from the work clone is overtaken: a publish lands just before it.
    const scratch = await tempDir();
    const hook = path.join(workDir, ".git", "hooks", "pre-push");
    await writeFile(
      hook,
      [
        "#!/bin/sh",
        `[ -e '${scratch}/done' ] && exit 0`,
        `touch '${scratch}/done'`,
        "unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE",
        `git clone --quiet '${settings.appRemote}' '${scratch}/w' && cd '${scratch}/w' || exit 1`,
        "echo '{}' > data/acme-app.json && git add data && git commit --quiet -m winner || exit 1",
        `git push --quiet origin 'HEAD:refs/heads/${settings.appBranch}'`,
        "",
      ].join("\n"),
    );
    await chmod(hook, 0o755);

    const again = await ensureAppRepo(settings, {
      reporter,
      packageRoot: root,
      serverConfig: { pollingIntervalSeconds: 7 },
    });
    expect(again.changed).toBe(true);
    expect(reporter.lines.join("\n")).toMatch(/lost a race, retrying \(1\)/);
    expect(gitOut(settings.appRemote, ["rev-parse", settings.appBranch])).toBe(again.commit);
    expect(gitOut(settings.appRemote, ["log", "--format=%s", settings.appBranch]).split("\n")).toEqual([
      "acme setup",
      "winner",
      "acme setup",
    ]);
    expect(gitOut(settings.appRemote, ["show", `${settings.appBranch}:data/acme-app.json`])).toBe("{}");
    expect(gitOut(settings.appRemote, ["show", `${settings.appBranch}:registry.conf`])).toMatch(
      /data_dir_polling_interval = 7/,
    );
  });

  it("publishes metadata files and the hook deploys them; refuses paths outside the repo", async () => {
    const root = await fakeRaasPackage(packageRoot());
    const settings = await settingsFor("acme");
    await ensureAppRepo(settings, {
      reporter: new RecordingReporter(),
      packageRoot: root,
    });
    const publish = (file: string) => publishFiles(settings, { [file]: "{}\n" }, "acme push app");
    const commit = await publish("data/acme-app.json");
    expect(gitOut(settings.appRemote, ["rev-parse", settings.appBranch])).toBe(commit);
    expect(existsSync(path.join(settings.deployDir ?? "", "data", "acme-app.json"))).toBe(true);
    expect(await publish("data/acme-app.json")).toBeUndefined();
    await expect(publish("../escape.json")).rejects.toThrow(/escapes/);
    // A later setup keeps published metadata.
    await ensureAppRepo(settings, { reporter: new RecordingReporter(), packageRoot: root });
    expect(existsSync(path.join(settings.deployDir ?? "", "data", "acme-app.json"))).toBe(true);
  });

  it("writes the S3 storage section and no secret anywhere in the repository", async () => {
    const root = await fakeRaasPackage(packageRoot());
    const settings = await settingsFor(
      "acme",
      "[raas]\nstorage = s3\n[s3]\nendpoint = http://127.0.0.1:9000\nredirect = presigned\n[acme]\ns3_bucket = acme-images\n",
      { AWS_ACCESS_KEY_ID: "AKIDSECRETID", AWS_SECRET_ACCESS_KEY: "verysecretkey" },
    );
    const { workDir } = await ensureAppRepo(settings, {
      reporter: new RecordingReporter(),
      packageRoot: root,
    });
    const conf = await readFile(path.join(workDir, "registry.conf"), "utf8");
    expect(conf).toContain("[storage]\nkind = s3\nbucket = acme-images\nendpoint = http://127.0.0.1:9000");
    expect(conf).toContain("force_path_style = true");
    expect(conf).toMatch(/\[serve_content\]\nenable = false/);
    for (const file of gitOut(workDir, ["ls-files"]).split("\n")) {
      const text = await readFile(path.join(workDir, file), "utf8");
      expect(text).not.toContain("verysecretkey");
      expect(text).not.toContain("AKIDSECRETID");
    }
  });
});
