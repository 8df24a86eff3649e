/**
 * Secrets never leak. Known, unique secrets are planted in the configuration (the AWS secret
 * key and session token, an OpenShift token, a token in an app git URL and in a configuration
 * repository URL); then setup, push and status run, successfully and failing, with --log debug
 * and --json. Every artefact is searched for the secrets: stdout and stderr of every run, the
 * files raas wrote (state dir, registry.conf, server log, deploy dir, temp dirs), the app
 * repository's whole history (`git log -p --all`), and every object in storage.
 */
import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDockerArchive, buildOciLayout } from "../helpers/image-builder.js";
import { freePort } from "../helpers/free-port.js";
import { startWorld, type ProcessRun, type World } from "./world.js";

const SECRETS = {
  awsSecret: "rAaSpLaNtEdAwSsEcReT0123456789abcdefGHIJ",
  awsSession: "PLANTEDsessionTOKEN.FwoGZXIvYXdzEJr",
  openshift: "sha256~PLANTEDopenshiftTOKENq1w2e3r4t5y6",
  gitToken: "ghp_PLANTEDgitURLtoken0123456789abcdef",
  confToken: "glpat-PLANTEDconfREPOtoken987",
};

async function filesUnder(dir: string, skip: (path: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const full = join(entry.parentPath, entry.name);
    if (entry.isFile() && !skip(full)) out.push(full);
  }
  return out;
}

describe("secrets from configuration never appear in any artefact", () => {
  let world: World;
  const runs: { what: string; run: ProcessRun }[] = [];
  const record = async (what: string, args: string[], env?: Record<string, string>) => {
    const run = await world.raas(args, env);
    runs.push({ what, run });
    return run;
  };

  beforeAll(async () => {
    const deadPort = await freePort();
    world = await startWorld({
      isv: "sec",
      aws: { accessKey: "S3RVER", secretKey: SECRETS.awsSecret, sessionToken: SECRETS.awsSession },
      extraConfig: [
        "[leaky]",
        "s3_bucket = sec-images",
        // The app remote is only configurable off the local platform.
        "platform = openshift",
        `app_url = http://127.0.0.1:${deadPort}`,
        `app_git_url = https://raas-bot:${SECRETS.gitToken}@127.0.0.1:${deadPort}/acme/registry.git`,
        "[openshift]",
        `token = ${SECRETS.openshift}`,
        "server_url = https://api.cluster.invalid:6443",
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await world?.stop();
  });

  it("keeps every planted secret out of output, logs, history and storage", async () => {
    const session = { RAAS_OPENSHIFT_TOKEN: SECRETS.openshift };
    const image = await buildDockerArchive(join(world.work, "app.tar"), {
      name: "acme/app",
      tag: "1",
      layers: 2,
    });
    const oci = await buildOciLayout(join(world.work, "web.tar"), { name: "acme/web", tag: "2", layers: 1 });

    expect((await record("setup", ["setup", world.isv, "--log", "debug"], session)).code).toBe(0);
    expect((await record("push", ["push", world.isv, image.path, "--log", "debug"], session)).code).toBe(0);
    expect(
      (await record("push --json", ["push", world.isv, oci.path, "--json", "--log", "debug"])).code,
    ).toBe(0);
    expect((await record("status", ["status", world.isv, "--log", "debug"], session)).code).toBe(0);
    expect((await record("status --json", ["status", world.isv, "--json", "--verify"])).code).toBe(0);

    // Failures: their messages name endpoints and remotes, and must still redact them.
    world.proxy.setFaultRate(1);
    const s3Down = await record("push, S3 failing", [
      "push",
      world.isv,
      image.path,
      "--name",
      "acme/x",
      "--log",
      "debug",
    ]);
    world.proxy.setFaultRate(0);
    expect(s3Down.code).toBe(1);
    await record("setup, OpenShift API and git remote unreachable", [
      "setup",
      "leaky",
      "--no-start",
      "--log",
      "debug",
    ]);
    const gitDownJson = await record("push --json, git remote unreachable", [
      "push",
      "leaky",
      image.path,
      "--json",
    ]);
    expect(gitDownJson.code).not.toBe(0);
    expect(gitDownJson.stdout + gitDownJson.stderr).toMatch(/\*\*\*@127\.0\.0\.1/);
    // A configuration repository behind a token URL (no raas.cfg in this directory).
    const elsewhere = join(world.work, "elsewhere");
    await mkdir(elsewhere);
    const confDown = world.spawnRaas(
      ["status", world.isv, "--log", "debug"],
      {
        RAAS_CONF_REPO: `https://ci:${SECRETS.confToken}@127.0.0.1:${await freePort()}/conf.git`,
      },
      elsewhere,
    );
    const confRun = await confDown.done;
    runs.push({ what: "status, config repo unreachable", run: confRun });
    expect(confRun.code).toBe(1);
    expect(confRun.stderr).toMatch(/https:\/\/\*\*\*@127\.0\.0\.1/);

    const leaks: string[] = [];
    const check = (where: string, text: string) => {
      for (const [name, secret] of Object.entries(SECRETS)) {
        if (text.includes(secret)) leaks.push(`${name} in ${where}`);
      }
    };
    for (const { what, run } of runs) {
      check(`stdout of ${what}`, run.stdout);
      check(`stderr of ${what}`, run.stderr);
    }
    // Everything raas wrote: state dir (server log, registry.conf, deploy dir), temp clones,
    // storage objects. raas.cfg itself holds the secrets by design; git objects are compressed,
    // so history is read through git below.
    const cfg = join(world.work, "raas.cfg");
    for (const root of [world.work, world.s3.directory]) {
      for (const file of await filesUnder(
        root,
        (f) => f === cfg || f.includes(`${join("app.git", "objects")}`),
      )) {
        check(relative(world.work, file), (await readFile(file)).toString("latin1"));
      }
    }
    const remote = join(world.stateDir(), "app.git");
    check(
      "app repository history",
      // The history holds the server bundle (about 1 MB): more than execFileSync's default buffer.
      execFileSync("git", ["--git-dir", remote, "log", "-p", "--all"], {
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
      }),
    );
    expect(await readFile(join(world.stateDir(), "server.log"), "utf8").catch(() => "")).not.toBe("");
    expect(leaks).toEqual([]);
  }, 120_000);
});
