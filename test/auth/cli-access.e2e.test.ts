/**
 * The access commands through the real CLI (in-process main) after `raas setup --no-start`:
 * changes land as commits in the ISV's app repository; a service-login token is printed once;
 * `access check` names the deciding rule; bad input is a clear error with a non-zero exit.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli } from "../helpers/cli.js";

const ISV = "authcli";

describe("raas user / group / app / service-login / access", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let remote: string;
  const cli = (...argv: string[]) => runCli(argv, { cwd: work, env });
  const show = () =>
    execFileSync("git", ["--git-dir", remote, "show", "HEAD:access.yaml"], { encoding: "utf8" });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-authcli-"));
    env = cliEnv(join(work, "home"));
    await reservePort(join(work, "home", "raas"), ISV);
    const setup = await cli("setup", ISV, "--no-start");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    remote = join(work, "home", "raas", ISV, "app.git");
    await writeFile(join(work, "pw"), "a-long-password\n");
  }, 60_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("manages the policy as commits and explains decisions", async () => {
    const add = await cli(
      "user",
      "add",
      ISV,
      "alice",
      "--privileges",
      "puller,pusher",
      "--password-file",
      "pw",
    );
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/committed [0-9a-f]{12}/);
    expect(show()).toMatch(/alice:[\s\S]*\$scrypt\$ln=15,r=8,p=1\$/);
    expect(show()).not.toContain("a-long-password");

    expect((await cli("group", "add", ISV, "devs", "--member", "alice")).code).toBe(0);
    expect((await cli("app", "set", ISV, "bigdata", "--id", "42", "--responsible", "devs")).code).toBe(0);

    const created = await cli("service-login", "create", ISV, "node-17", "--app", "bigdata");
    expect(created.code, created.stderr).toBe(0);
    const token = /raas_sl_[A-Za-z0-9_-]{43}/.exec(created.stdout)?.[0];
    expect(token).toBeDefined();
    // The login hint reads the token from standard input, never from argv (`ps`, shell history).
    expect(created.stdout).toContain(
      `printf '%s' "$TOKEN" | skopeo login -u node-17 --password-stdin <registry>`,
    );
    expect(created.stdout).not.toMatch(/ -p </);
    expect(show()).not.toContain(token!);
    const list = await cli("app", "list", ISV);
    expect(list.stdout).toContain("service logins: node-17");
    expect(list.stdout).not.toContain(token!);

    // DENY is an answer (ok: true), with its own exit status so scripts can tell it from ALLOW.
    const denied = await cli("--json", "access", "check", ISV, "alice", "push", "users/bob/testimage:v1.0");
    expect(denied.code).toBe(3);
    expect(JSON.parse(denied.stdout)).toMatchObject({
      ok: true,
      check: { allow: false, rule: "users-owner-only", tag: "v1.0" },
    });
    const allowed = await cli("access", "check", ISV, "service:node-17", "pull", "apps/42/server");
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toMatch(
      /^ALLOW {2}service:node-17 pull apps\/42\/server\n {2}rule {4}service-app-pull/,
    );
    // The bare login name, as `skopeo login -u node-17` would use it: the service login.
    const bare = await cli("access", "check", ISV, "node-17", "pull", "apps/42/server");
    expect(bare.code, bare.stdout + bare.stderr).toBe(0);
    expect(bare.stdout).toMatch(/^ALLOW {2}node-17 pull apps\/42\/server\n {2}rule {4}service-app-pull/);
    const deniedText = await cli("access", "check", ISV, "node-17", "push", "apps/42/server");
    expect(deniedText.code).toBe(3);
    expect(deniedText.stdout).toMatch(/^DENY {2}node-17 push/);

    const users = await cli("--json", "user", "list", ISV);
    expect(JSON.parse(users.stdout)).toMatchObject({
      users: [{ name: "alice", privileges: ["puller", "pusher"], password: true, groups: ["devs"] }],
    });
    expect(users.stdout).not.toContain("scrypt");

    const log = execFileSync("git", ["--git-dir", remote, "log", "--format=%s", "-4"], { encoding: "utf8" });
    expect(log.split("\n").slice(0, 4)).toEqual([
      "access: add service login node-17 for app bigdata",
      "access: app bigdata",
      "access: add group devs",
      "access: add user alice",
    ]);
  });

  it("warns, without failing, that access.yaml is not in force while auth is off", async () => {
    // The embedded default has [auth] mode off: the user exists, but nobody is asked to log in.
    const off = await cli("user", "add", ISV, "erin", "--password-file", "pw");
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toMatch(/committed [0-9a-f]{12}/);
    expect(off.stderr).toContain(
      `warning: user erin is added to access.yaml of ${ISV}, but its registry does not ask for logins ([auth] mode is off)`,
    );
    expect(off.stderr).toContain("Set `mode = local` under [auth] in raas.cfg");
    expect(off.stderr).toContain(`raas setup ${ISV}`);
    // Every other change to access.yaml too; a listing changes nothing and says nothing.
    const group = await cli("group", "add", ISV, "auditors", "--member", "erin");
    expect(group.stderr).toMatch(/warning: the change is committed to access.yaml .* mode is off/);
    expect((await cli("user", "list", ISV)).stderr).toBe("");
    // A check answers what access.yaml says, and says the registry does not ask it today.
    const check = await cli("access", "check", ISV, "erin", "push", "users/erin/tool");
    expect(check.stderr).toMatch(
      /warning: this is what access\.yaml of .* decides, but its registry does not ask for logins/,
    );
    // With auth on, the same change is in force: no warning.
    const on = await runCli(["user", "remove", ISV, "erin"], {
      cwd: work,
      env: { ...env, RAAS_AUTH: "local" },
    });
    expect(on.code, on.stderr).toBe(0);
    expect(on.stderr).toBe("");
  });

  it("refuses bad input with a clear error and a non-zero exit", async () => {
    const before = show();
    const dup = await cli("user", "add", ISV, "alice");
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/login "alice" already exists/);
    const priv = await cli("user", "add", ISV, "bob", "--privileges", "root");
    expect(priv.code).toBe(2);
    expect(priv.stderr).toMatch(/unknown privilege "root"/);
    const nofile = await cli("user", "passwd", ISV, "alice", "--password-file", "missing");
    expect(nofile.code).toBe(1);
    expect(nofile.stderr).toMatch(/missing: cannot read the password file/);
    const noPw = await cli("user", "passwd", ISV, "alice");
    expect(noPw.code).toBe(2);
    expect(show()).toBe(before);
  });
});
