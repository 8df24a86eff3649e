/**
 * The write API switched on from raas.cfg (`[push] enable`), through the real CLI and the
 * background server `raas setup` starts: setup writes `[push]` into registry.conf, a user added
 * with `raas user add` pushes into their own namespace with skopeo and is the author of the
 * metadata commit, a write-once tag does not move, and `raas setup` run again (the repair
 * command) keeps the write API on. An ISV that says `push = false`, or has no login, gets none.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { writeOciLayoutDir } from "../helpers/image-builder.js";

const run = promisify(execFile);
const ISV = "pushset";

async function skopeo(...args: string[]): Promise<{ code: number; out: string }> {
  return run("skopeo", args, { timeout: 120_000 }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === "number" ? e.code : 1,
      out: `${e.stdout ?? ""}${e.stderr ?? ""}`,
    }),
  );
}

describe("raas setup with [push] enable in raas.cfg", () => {
  let work: string;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let host: string;
  const cli = (...argv: string[]) => runCli(argv, { cwd: work, env });
  const remote = () => join(home, "raas", ISV, "app.git");
  const git = (...args: string[]) =>
    execFileSync("git", ["--git-dir", remote(), ...args], { encoding: "utf8" });
  const authfile = () => join(work, "alice.json");
  const pushAs = (tag: string) =>
    skopeo(
      ...["copy", "--retry-times", "0", "--dest-tls-verify=false", "--dest-authfile", authfile()],
      `oci:${join(work, "src")}:1.0`,
      `docker://${host}/users/alice/app:${tag}`,
    );

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-pushsetup-"));
    home = join(work, "home");
    env = cliEnv(home, { RAAS_AUTH: "local" });
    host = `127.0.0.1:${await reservePort(join(home, "raas"), ISV)}`;
    await writeFile(
      join(work, "raas.cfg"),
      [
        "[push]",
        "enable = true",
        "write_once_tags = users/alice/",
        "max_blob_size = 64MiB",
        "[nopush]",
        "push = false",
        "[noauth]",
        "auth = off",
        "",
      ].join("\n"),
    );
    await writeOciLayoutDir(join(work, "src"), {
      name: "users/alice/app",
      tag: "1.0",
      layers: 2,
      gzip: true,
    });
  });

  afterAll(async () => {
    await stopBackgroundServer(join(home, "raas"), ISV);
    await rm(work, { recursive: true, force: true });
  });

  it("writes [push] into registry.conf, and a user pushes into their namespace with skopeo", async () => {
    const setup = await cli("setup", ISV);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const conf = git("show", "HEAD:registry.conf");
    expect(conf).toContain(
      [
        "[push]",
        "enable = true",
        `app_remote = ${remote()}`,
        "app_branch = main",
        `clone_dir = ${join(home, "raas", ISV, "push-clones")}`,
        "allow_delete = false",
        `max_blob_size = ${64 * 1024 * 1024}`,
        "write_once_tags = users/alice/",
        "",
      ].join("\n"),
    );

    await writeFile(join(work, "pw"), "alice-long-password\n");
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
    expect(add.code, add.stdout + add.stderr).toBe(0);
    // The deploy hook updates the deployed repository; the server reloads access.yaml with it.
    let login = { code: 1, out: "" };
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(250)) {
      login = await skopeo(
        ...["login", "--tls-verify=false", "--authfile", authfile()],
        ...["-u", "alice", "-p", "alice-long-password", host],
      );
      if (login.code === 0) break;
    }
    expect(login.code, login.out).toBe(0);
    const pushed = await pushAs("1.0");
    expect(pushed.code, pushed.out).toBe(0);
    expect(git("log", "-1", "--format=%an")).toBe("alice\n");
    const inspected = await skopeo(
      ...["inspect", "--tls-verify=false", "--retry-times", "0", "--authfile", authfile()],
      `docker://${host}/users/alice/app:1.0`,
    );
    expect(inspected.code, inspected.out).toBe(0);
  }, 180_000);

  it("keeps the write API on when setup runs again, with its tag rules", async () => {
    const again = await cli("setup", ISV);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(git("show", "HEAD:registry.conf")).toContain("[push]\nenable = true\n");
    const next = await pushAs("1.1");
    expect(next.code, next.out).toBe(0);
    expect(git("log", "-1", "--format=%an %s")).toMatch(/^alice .*users\/alice\/app:1\.1/);
    // users/alice/ is write-once: 1.0 names its image and does not move (a second image under it is refused).
    await writeOciLayoutDir(join(work, "other"), {
      name: "users/alice/app",
      tag: "1.0",
      layers: 1,
      gzip: true,
    });
    const moved = await skopeo(
      ...["copy", "--retry-times", "0", "--dest-tls-verify=false", "--dest-authfile", authfile()],
      `oci:${join(work, "other")}:1.0`,
      `docker://${host}/users/alice/app:1.0`,
    );
    expect(moved.code).not.toBe(0);
    expect(moved.out).toMatch(/write-once/);
  }, 180_000);

  it("leaves it off for an ISV with push = false, and refuses it for one without a login", async () => {
    const off = await cli("setup", "nopush", "--no-start");
    expect(off.code, off.stdout + off.stderr).toBe(0);
    const conf = execFileSync(
      "git",
      ["--git-dir", join(home, "raas", "nopush", "app.git"), "show", "HEAD:registry.conf"],
      { encoding: "utf8" },
    );
    expect(conf).not.toContain("[push]");
    const refused = await cli("setup", "noauth", "--no-start");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(
      "cannot turn on the write API for noauth: pushes need a login, and auth is off",
    );
    expect(refused.stderr).toContain("push = false in [noauth]");
  }, 120_000);
});
