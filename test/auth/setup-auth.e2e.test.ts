/**
 * `[auth] mode = local` from raas.cfg to a pull, through the real CLI and the background server
 * `raas setup` starts: setup creates the signing keys (0600, in the state dir, not in git) and
 * an empty access.yaml, the server requires a login, and a user added with `raas user add` can
 * log in with skopeo and pull once the change is deployed (the policy reloads with the deploy).
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { buildOciLayout } from "../helpers/image-builder.js";

const run = promisify(execFile);
const ISV = "authset";

async function skopeo(...args: string[]): Promise<{ code: number; out: string }> {
  return run("skopeo", args, { timeout: 60_000 }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === "number" ? e.code : 1,
      out: `${e.stdout ?? ""}${e.stderr ?? ""}`,
    }),
  );
}

describe("raas setup with [auth] mode = local", () => {
  let work: string;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let host: string;
  const cli = (...argv: string[]) => runCli(argv, { cwd: work, env });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-authsetup-"));
    home = join(work, "home");
    env = cliEnv(home, { RAAS_AUTH: "local" });
    host = `127.0.0.1:${await reservePort(join(home, "raas"), ISV)}`;
  });

  afterAll(async () => {
    await stopBackgroundServer(join(home, "raas"), ISV);
    await rm(work, { recursive: true, force: true });
  });

  it("creates keys outside git, an empty policy, and a server that requires a login", async () => {
    const setup = await cli("setup", ISV);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const keyFile = join(home, "raas", ISV, "auth-keys.json");
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const remote = join(home, "raas", ISV, "app.git");
    const tree = execFileSync("git", ["--git-dir", remote, "ls-tree", "-r", "--name-only", "HEAD"], {
      encoding: "utf8",
    });
    expect(tree.split("\n")).toContain("access.yaml");
    expect(tree).not.toContain("auth-keys");
    const conf = execFileSync("git", ["--git-dir", remote, "show", "HEAD:registry.conf"], {
      encoding: "utf8",
    });
    expect(conf).toContain("[auth]\nmode = local\n");
    expect(conf).toContain(`realm = http://${host}/token`);
    const v2 = await fetch(`http://${host}/v2/`);
    expect(v2.status).toBe(401);
    expect(v2.headers.get("www-authenticate")).toBe(`Bearer realm="http://${host}/token",service="${host}"`);
    // The health line says what /v2/ answered (401 and a challenge), not the 200 of a registry without auth.
    const health = (setup.stdout + setup.stderr).split("\n").find((l) => l.includes("Health check"));
    expect(health).toContain(
      `Health check http://${host}: http://${host}/v1/_ping answers true, /v2/ answers 401 with a Bearer challenge (auth on)`,
    );
    expect(health).not.toContain("answers 200");
    // Setup again changes nothing: the keys and access.yaml stay as they are.
    const keys = await readFile(keyFile, "utf8");
    expect((await cli("setup", ISV)).code).toBe(0);
    expect(await readFile(keyFile, "utf8")).toBe(keys);
  }, 120_000);

  it("a user added with `raas user add` logs in and pulls their image once deployed", async () => {
    await buildOciLayout(join(work, "img.tar"), {
      name: "users/alice/app",
      tag: "1.0",
      layers: 2,
      gzip: true,
    });
    const push = await cli("push", ISV, "img.tar", "--json");
    expect(push.code, push.stderr).toBe(0);
    const digest = (JSON.parse(push.stdout) as { images: { digest: string }[] }).images[0]?.digest;
    const ref = `docker://${host}/users/alice/app:1.0`;
    const anonymous = await skopeo("inspect", "--tls-verify=false", "--no-creds", "--retry-times", "0", ref);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.out).toMatch(/unauthorized|authentication required/i);

    await writeFile(join(work, "pw"), "alice-long-password\n");
    const add = await cli("user", "add", ISV, "alice", "--privileges", "puller", "--password-file", "pw");
    expect(add.code, add.stderr).toBe(0);
    const authfile = join(work, "alice.json");
    // The deploy hook updates the deployed repository; the server reloads access.yaml with it.
    let login = { code: 1, out: "" };
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(250)) {
      login = await skopeo(
        "login",
        "--tls-verify=false",
        "--authfile",
        authfile,
        "-u",
        "alice",
        "-p",
        "alice-long-password",
        host,
      );
      if (login.code === 0) break;
    }
    expect(login.code, login.out).toBe(0);
    const pulled = await skopeo(
      ...["inspect", "--tls-verify=false", "--retry-times", "0", "--authfile", authfile],
      ...["--format", "{{.Digest}}", ref],
    );
    expect(pulled.code, pulled.out).toBe(0);
    expect(pulled.out.trim()).toBe(digest);

    // `raas status` cannot see private tags without a login: it says it did NOT check them
    // (never a tick), instead of failing.
    const status = await cli("--json", "status", ISV);
    expect(status.code, status.stdout + status.stderr).toBe(0);
    const checks = (
      JSON.parse(status.stdout) as { checks: { name: string; status: string; detail: string }[] }
    ).checks;
    expect(checks).toContainEqual(
      expect.objectContaining({
        name: "users/alice/app",
        status: "warn",
        detail: expect.stringMatching(
          /private \(\[auth\]\) and NOT checked against the registry: no registry login/,
        ),
      }),
    );
    expect(checks.filter((c) => c.name === "users/alice/app" && c.status === "ok")).toEqual([]);
  }, 120_000);
});
