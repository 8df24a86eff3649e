/**
 * Who may promote into which environment, through the real CLI: an ISV with test and prod,
 * `[auth] mode = local`, and prod's access.yaml saying only the release group promotes `v*` tags
 * of `acme/**` into prod (and demotes them). raas checks the operator's registry login
 * (RAAS_REGISTRY_LOGIN and RAAS_REGISTRY_SECRET_FILE) against prod's policy before anything is
 * written: no login, a wrong secret, a developer, and a tag outside the pattern are refused with
 * prod unchanged; the release manager's promotion and demotion go through and their commits name
 * the login and the rule. test has no promotion rules, so promoting there needs no login.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "../../src/auth/passwords.js";
import { TEST_SCRYPT } from "../../src/auth/testing/policy-fixture.js";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { buildOciLayout } from "../helpers/image-builder.js";

const ISV = "gate";
const ENVS = ["test", "uat", "prod"] as const;

describe("promotion rules of the access policy, enforced by raas promote and demote", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  const home = () => join(work, "home", "raas");
  const raas = (extra: Record<string, string>, ...args: string[]) =>
    runCli(args, { cwd: work, env: { ...env, ...extra } });
  const git = (e: string, ...args: string[]) =>
    execFileSync("git", ["--git-dir", join(home(), `${ISV}.${e}`, "app.git"), ...args], { encoding: "utf8" });
  const as = (login: string, secret = `${login}-secret`) => ({
    RAAS_REGISTRY_LOGIN: login,
    RAAS_REGISTRY_SECRET_FILE: join(work, `${secret}.txt`),
  });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-promo-access-"));
    env = cliEnv(join(work, "home"), { RAAS_AUTH: "local" });
    for (const e of ENVS) await reservePort(home(), `${ISV}.${e}`);
    await writeFile(
      join(work, "raas.cfg"),
      [`[${ISV}]`, `environments = ${ENVS.join(" ")}`, "promote_only = prod", ""].join("\n"),
    );
    for (const s of ["rel-secret", "alice-secret", "wrong-secret"]) {
      await writeFile(join(work, `${s}.txt`), `${s}\n`);
    }
    const setup = await raas({}, "setup", ISV);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    for (const tag of ["v1.0", "rc-1"]) {
      const image = await buildOciLayout(join(work, `${tag}.tar`), {
        name: "acme/app",
        tag,
        layers: 1,
        gzip: true,
      });
      const pushed = await raas({}, "push", ISV, image.path, "--env", "test");
      expect(pushed.code, pushed.stdout + pushed.stderr).toBe(0);
    }
    // prod's policy, as an ISV's release process would commit it to prod's app repository.
    const policy = `version: 1
registry: { responsibleGroups: [devs, release] }
users:
  alice: { password: "${await hashPassword("alice-secret", TEST_SCRYPT)}", privileges: [puller, pusher] }
  rel: { password: "${await hashPassword("rel-secret", TEST_SCRYPT)}", privileges: [puller, pusher] }
groups:
  devs: { members: [alice] }
  release: { members: [rel] }
promotions:
  - { environments: [prod], repository: "acme/**", tags: ["v*"], promote: [release], demote: [release] }
`;
    const clone = join(work, "prod-clone");
    execFileSync("git", ["clone", "--quiet", join(home(), `${ISV}.prod`, "app.git"), clone], {
      env,
      stdio: "pipe",
    });
    await writeFile(join(clone, "access.yaml"), policy);
    execFileSync("git", ["-C", clone, "commit", "--quiet", "-am", "access: release promotes v* to prod"], {
      env,
    });
    execFileSync("git", ["-C", clone, "push", "--quiet", "origin", "HEAD"], { env, stdio: "pipe" });
  }, 300_000);

  afterAll(async () => {
    for (const e of ENVS) await stopBackgroundServer(home(), `${ISV}.${e}`);
    await rm(work, { recursive: true, force: true });
  });

  const prodHead = () => git("prod", "log", "-1", "--format=%s").trim();
  const promote = (extra: Record<string, string>, ref: string, ...more: string[]) =>
    raas(extra, "promote", ISV, ref, "--from", "test", "--to", "prod", "--no-wait", ...more);

  it("raas access check --env explains promotion and demotion decisions", async () => {
    const check = async (...args: string[]) => {
      const run = await raas({}, "access", "check", ISV, ...args, "--json");
      const { check } = JSON.parse(run.stdout) as { check: { allow: boolean; rule: string } };
      // 0 for ALLOW, 3 for DENY.
      expect(run.code, run.stdout + run.stderr).toBe(check.allow ? 0 : 3);
      return check;
    };
    expect(await check("rel", "promote", "acme/app:v1.0", "--env", "prod")).toMatchObject({
      allow: true,
      rule: "promotions[0]",
    });
    expect(await check("alice", "promote", "acme/app:v1.0", "--env", "prod")).toMatchObject({
      allow: false,
      rule: "promotions[0]",
    });
    expect(await check("rel", "demote", "acme/app:rc-1", "--env", "prod")).toMatchObject({
      allow: false,
      rule: "promotions-default-deny",
    });
    const untagged = await raas({}, "access", "check", ISV, "rel", "demote", "acme/app", "--env", "prod");
    expect(untagged.code).toBe(2);
    expect(untagged.stderr).toContain("demote is checked for a tag: <repository>:<tag>");
  }, 60_000);

  it("an environment without promotion rules takes a promotion from anyone who can run raas", async () => {
    const run = await raas({}, "promote", ISV, "acme/app:rc-1", "--from", "test", "--to", "uat", "--no-wait");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(git("uat", "log", "-1", "--format=%B")).not.toContain("Promoted-by");
  }, 120_000);

  it("refuses without a login, with a wrong secret, for a developer, and for a tag outside v*", async () => {
    const before = prodHead();
    const anonymous = await promote({}, "acme/app:v1.0");
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain(
      "prod's access.yaml says who may promote (promotions), and raas does not know who you are; nothing was promoted to prod",
    );
    expect(anonymous.stderr).toContain("RAAS_REGISTRY_LOGIN");

    const wrong = await promote(as("rel", "wrong-secret"), "acme/app:v1.0");
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(
      "the login rel (RAAS_REGISTRY_LOGIN, its secret from RAAS_REGISTRY_SECRET_FILE) is not a login of prod's access.yaml, or its secret does not match",
    );
    expect(wrong.stderr).not.toContain("wrong-secret");

    const developer = await promote(as("alice"), "acme/app:v1.0", "--json");
    expect(developer.code).toBe(1);
    expect(JSON.parse(developer.stdout)).toMatchObject({ ok: false, error: { code: "DENIED" } });
    expect(developer.stdout).toContain(
      "alice may not promote acme/app:v1.0 into prod: only release may promote v* of acme/** into prod (prod's access.yaml, promotions[0])",
    );

    const outside = await promote(as("rel"), "acme/app:rc-1");
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain("no promotion rule covers promoting acme/app:rc-1 into prod");
    expect(outside.stderr).toContain("promotions-default-deny");

    // --plan checks the rules too; nothing reached prod.
    expect((await promote(as("alice"), "acme/app:v1.0", "--plan")).code).toBe(1);
    expect(prodHead()).toBe(before);
    expect(git("prod", "ls-tree", "-r", "--name-only", "HEAD")).not.toContain("data/gate-acme-app.json");
  }, 180_000);

  it("the release manager promotes v1.0 and the commit names the login and the rule", async () => {
    const run = await promote(as("rel"), "acme/app:v1.0");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const message = git("prod", "log", "-1", "--format=%B");
    expect(message).toContain(`${ISV} promote acme/app:v1.0 from test to prod`);
    expect(message).toContain("Promoted-by: rel (promotions[0])");
    expect(git("prod", "show", "HEAD:data/gate-acme-app.json")).toContain('"v1.0"');
  }, 120_000);

  it("demotion from prod follows the rule's demote list", async () => {
    const refused = await raas(as("alice"), "demote", ISV, "acme/app:v1.0", "--from", "prod", "--no-wait");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("alice may not demote acme/app:v1.0 from prod");
    expect(prodHead()).toBe(`${ISV} promote acme/app:v1.0 from test to prod`);

    const run = await raas(as("rel"), "demote", ISV, "acme/app:v1.0", "--from", "prod", "--no-wait");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const message = git("prod", "log", "-1", "--format=%B");
    expect(message).toContain(`${ISV} demote acme/app:v1.0 from prod`);
    expect(message).toContain("Demoted-by: rel (promotions[0])");
  }, 120_000);
});
