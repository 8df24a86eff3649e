/**
 * The configuration repository (RAAS_CONF_REPO), through the CLI with real git remotes and
 * s3rver: setup records the ISV's section in the repository's raas.cfg, every run appends
 * to <isv>/logs/<date>.log, push backs up its metadata, each run is committed and pushed,
 * two concurrent runs both land, --nocommit commits nothing, and the configured secrets
 * appear neither in the repository's history nor in any output. The local registry gets a
 * port the OS hands out (reservePort). About 15 s.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, type CliRun, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { gitOut } from "../helpers/git.js";
import { buildDockerArchive } from "../helpers/image-builder.js";
import { startS3rver, type RunningS3rver } from "../helpers/s3rver.js";

const ISV = "acme";
// s3rver checks only the key id of SigV4 requests, so the secret can be anything: make it unmistakable.
const SECRET = "conf-repo-test-secret-Zq81xV";
const TOKEN = "sha256~openshift-token-Kd93mPq";

describe("the configuration repository", () => {
  let work: string;
  let confRepo: string;
  let env: NodeJS.ProcessEnv;
  let s3: RunningS3rver;
  const outputs: CliRun[] = [];
  const raas = async (...args: string[]) => {
    const run = await runCli(args, { cwd: work, env });
    outputs.push(run);
    return run;
  };
  const log = (...args: string[]) => gitOut(work, ["--git-dir", confRepo, "log", "stage", ...args]);
  const show = (file: string) => gitOut(work, ["--git-dir", confRepo, "show", `stage:${file}`]);
  const today = () => new Date().toISOString().slice(0, 10);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-conf-repo-"));
    s3 = await startS3rver({ buckets: ["acme-images"] });
    confRepo = join(work, "conf.git");
    const seed = join(work, "seed");
    execFileSync("git", ["init", "--quiet", "--bare", "--initial-branch=stage", confRepo]);
    execFileSync("git", ["init", "--quiet", "--initial-branch=stage", seed]);
    await writeFile(
      join(seed, "raas.cfg"),
      ["[raas]", "storage = s3", "[s3]", `endpoint = ${s3.endpoint}`, "redirect = presigned", ""].join("\n"),
    );
    gitOut(seed, ["add", "raas.cfg"]);
    gitOut(seed, ["commit", "--quiet", "-m", "config"]);
    gitOut(seed, ["push", "--quiet", confRepo, "stage"]);
    env = cliEnv(join(work, "home"), {
      RAAS_CONF_REPO: confRepo,
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: SECRET,
      RAAS_OPENSHIFT_TOKEN: TOKEN,
    });
    await buildDockerArchive(join(work, "app.tar"), { name: "acme/app", tag: "1.0", layers: 2 });
    // A port the OS hands out, not the first free one from 5000: another registry (or another
    // test file's setup) on 5000 must not collide with this one.
    await reservePort(join(work, "home", "raas"), ISV);
  }, 60_000);

  afterAll(async () => {
    await stopBackgroundServer(join(work, "home", "raas"), ISV);
    await s3.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("commits setup's section and log, and push's metadata backup", async () => {
    const setup = await raas("setup", ISV, "--s3bucket", "acme-images", "--log", "debug");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    expect(log("-1", "--format=%s")).toBe("acme setup update by raas");
    expect(show("raas.cfg")).toMatch(/\n\[acme\]\ns3_bucket = acme-images$/);
    const setupLog = show(`acme/logs/${today()}.log`);
    expect(setupLog).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z info raas setup acme$/m);
    expect(setupLog).toMatch(/ ok Storage: s3:\/\/acme-images/);
    expect(setupLog).toMatch(/ info setup succeeded$/m);

    const push = await raas("push", ISV, "app.tar", "--log", "debug");
    expect(push.code, push.stdout + push.stderr).toBe(0);
    expect(log("-1", "--format=%s")).toBe("acme push app.tar update by raas");
    const backup = JSON.parse(show("acme/metadata/acme-acme-app.json")) as { "repo-registry-id": string };
    expect(backup["repo-registry-id"]).toBe("acme/app");
    expect(show(`acme/logs/${today()}.log`)).toMatch(/info push succeeded$/);
  });

  it("lands two concurrent runs, and commits nothing with --nocommit", async () => {
    const before = Number(log("--format=%H").split("\n").length);
    const [a, b] = await Promise.all([raas("status", ISV), raas("status", ISV, "--verify")]);
    expect(a?.code, a?.stdout).toBe(0);
    expect(b?.code, b?.stdout).toBe(0);
    const subjects = log("--format=%s").split("\n");
    expect(subjects.length).toBe(before + 2);
    expect(subjects.slice(0, 2)).toEqual(["acme status update by raas", "acme status update by raas"]);
    const lines = show(`acme/logs/${today()}.log`).split("\n");
    expect(lines.filter((l) => l.endsWith(" info raas status acme"))).toHaveLength(2);
    expect(lines.filter((l) => l.endsWith(" info status succeeded"))).toHaveLength(2);

    const quiet = await raas("status", ISV, "--nocommit");
    expect(quiet.code).toBe(0);
    expect(log("--format=%H").split("\n").length).toBe(before + 2);
  });

  it("never lets a configured secret into the repository or any output", async () => {
    const failing = await raas("push", ISV, "missing.tar", "--log", "debug");
    expect(failing.code).toBe(1);
    const history = gitOut(work, ["--git-dir", confRepo, "log", "-p", "--all"]);
    expect(history).toContain("error"); // the failed run was logged too
    for (const text of [history, ...outputs.flatMap((o) => [o.stdout, o.stderr])]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(TOKEN);
    }
  });
});
