/**
 * `[auth] mode = local` over HTTPS (the default), through the real CLI and background server:
 * skopeo logs in with --cert-dir; `raas status` and `push --wait` check private tags for real
 * with the login named by RAAS_REGISTRY_LOGIN / RAAS_REGISTRY_SECRET_FILE, and without one say
 * that they did NOT check them (never a tick for what was not looked at).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { buildOciLayout } from "../helpers/image-builder.js";

const run = promisify(execFile);
const ISV = "authtls";
const PASSWORD = "alice-long-password";

async function skopeo(...args: string[]): Promise<{ code: number; out: string }> {
  return run("skopeo", args, { timeout: 60_000 }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === "number" ? e.code : 1,
      out: `${e.stdout ?? ""}${e.stderr ?? ""}`,
    }),
  );
}

type Checks = { checks: { name: string; status: string; detail: string }[] };

describe("raas's own checks of a registry with [auth] over HTTPS", () => {
  let work: string;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let host: string;
  let certDir: string;
  const cli = (extra: Record<string, string>, ...argv: string[]) =>
    runCli(argv, { cwd: work, env: { ...env, ...extra } });
  const asAlice = () => ({ RAAS_REGISTRY_LOGIN: "alice", RAAS_REGISTRY_SECRET_FILE: join(work, "pw") });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-authtls-"));
    home = join(work, "home");
    env = cliEnv(home, { RAAS_AUTH: "local" });
    delete env.RAAS_TLS; // the default: HTTPS
    host = `127.0.0.1:${await reservePort(join(home, "raas"), ISV)}`;
    certDir = join(home, "raas", ISV, "certs");
  });

  afterAll(async () => {
    await stopBackgroundServer(join(home, "raas"), ISV);
    await rm(work, { recursive: true, force: true });
  });

  it("a user logs in over HTTPS with --cert-dir; a wrong password is refused", async () => {
    const setup = await cli({}, "setup", ISV);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    await buildOciLayout(join(work, "img.tar"), {
      name: "users/alice/app",
      tag: "1.0",
      layers: 2,
      gzip: true,
    });
    expect((await cli({}, "push", ISV, "img.tar")).code).toBe(0);
    await writeFile(join(work, "pw"), `${PASSWORD}\n`);
    const add = await cli({}, "user", "add", ISV, "alice", "--privileges", "puller", "--password-file", "pw");
    expect(add.code, add.stderr).toBe(0);
    const authfile = join(work, "alice.json");
    const login = (password: string) =>
      skopeo("login", "--cert-dir", certDir, "--authfile", authfile, "-u", "alice", "-p", password, host);
    let ok = { code: 1, out: "" };
    // The deploy hook updates the deployed repository; the server reloads access.yaml with it.
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(250)) {
      ok = await login(PASSWORD);
      if (ok.code === 0) break;
    }
    expect(ok.code, ok.out).toBe(0);
    const pulled = await skopeo(
      ...["inspect", "--cert-dir", certDir, "--retry-times", "0", "--authfile", authfile],
      `docker://${host}/users/alice/app:1.0`,
    );
    expect(pulled.code, pulled.out).toBe(0);
    const wrong = await login("not-the-password");
    expect(wrong.code).not.toBe(0);
    expect(wrong.out).toMatch(/401|unauthorized|invalid username\/password/i);
    // Over HTTPS the server no longer speaks plain HTTP.
    await expect(fetch(`http://${host}/v2/`)).rejects.toThrow();
  }, 180_000);

  it("status without a login says the private tags were NOT checked, with one it checks them (✔)", async () => {
    const without = await cli({}, "--json", "status", ISV);
    expect(without.code, without.stdout + without.stderr).toBe(0);
    const plain = (JSON.parse(without.stdout) as Checks).checks;
    expect(plain).toContainEqual({
      name: "users/alice/app",
      status: "warn",
      detail: expect.stringMatching(
        /^1 of 1 tag\(s\) private \(\[auth\]\) and NOT checked against the registry: no registry login/,
      ),
    });
    expect(plain.filter((c) => c.name === "users/alice/app" && c.status === "ok")).toEqual([]);
    // The served-tags total counts the private tag as NOT checked, not as served, and is no tick.
    expect(plain).toContainEqual({
      name: "served tags",
      status: "warn",
      detail: expect.stringMatching(
        /; 1 of 1 tag\(s\) HEADed, 0 served with their digest; 1 HEADed tag\(s\) private \(\[auth\]\) and NOT checked: no registry login \(give raas a registry login: .*RAAS_REGISTRY_LOGIN and RAAS_REGISTRY_SECRET_FILE\)$/,
      ),
    });
    expect(plain).toContainEqual(
      expect.objectContaining({
        name: "deployed repositories",
        status: "warn",
        detail: expect.stringMatching(/NOT checked/),
      }),
    );
    expect(plain).toContainEqual(expect.objectContaining({ name: "registry app", status: "ok" }));
    // The text report's verdict counts the warnings instead of saying every check passed.
    const text = await cli({}, "status", ISV);
    expect(text.code, text.stdout + text.stderr).toBe(0);
    const warnings = plain.filter((c) => c.status === "warn").length;
    expect(text.stdout).toContain(`\nNo failures, ${warnings} warning(s).\n`);
    expect(text.stdout + text.stderr).not.toMatch(/all checks passed/i);

    const withLogin = await cli(asAlice(), "--json", "status", ISV);
    expect(withLogin.code, withLogin.stdout + withLogin.stderr).toBe(0);
    const checked = (JSON.parse(withLogin.stdout) as Checks).checks;
    expect(checked).toContainEqual(expect.objectContaining({ name: "users/alice/app", status: "ok" }));
    expect(checked).toContainEqual({
      name: "served tags",
      status: "ok",
      detail: expect.stringMatching(/; 1 of 1 tag\(s\) HEADed, 1 served with their digest$/),
    });
    expect(checked, JSON.stringify(checked)).toContainEqual({
      name: "deployed repositories",
      status: "ok",
      detail: "the app serves the 1 repository in the metadata (as alice)",
    });
    // The secret never reaches the output.
    expect(withLogin.stdout + withLogin.stderr).not.toContain(PASSWORD);

    // A wrong secret is a clear refusal, not a pass.
    await writeFile(join(work, "bad"), "wrong\n");
    const refused = await cli({ ...asAlice(), RAAS_REGISTRY_SECRET_FILE: join(work, "bad") }, "status", ISV);
    expect(refused.code).not.toBe(0);
    // Named after where the login came from (the environment here), not a raas.cfg key nobody set.
    expect(refused.stderr).toContain(
      "the registry refused the login alice (RAAS_REGISTRY_LOGIN, its secret from RAAS_REGISTRY_SECRET_FILE)",
    );
    expect(refused.stderr).toContain("the password or token in the file RAAS_REGISTRY_SECRET_FILE names");
    expect(refused.stderr).not.toContain("[auth] login");
  }, 120_000);

  it("push --wait checks private tags with the login, and says so when it cannot", async () => {
    await buildOciLayout(join(work, "img2.tar"), {
      name: "users/alice/app",
      tag: "2.0",
      layers: 1,
      gzip: true,
    });
    const withLogin = await cli(asAlice(), "push", ISV, "img2.tar", "--json");
    expect(withLogin.code, withLogin.stderr).toBe(0);
    expect((JSON.parse(withLogin.stdout) as { deployed: boolean | null }).deployed).toBe(true);

    await buildOciLayout(join(work, "img3.tar"), {
      name: "users/alice/app",
      tag: "3.0",
      layers: 1,
      gzip: true,
    });
    const without = await cli({}, "push", ISV, "img3.tar");
    expect(without.code, without.stderr).toBe(0);
    expect(without.stdout + without.stderr).toMatch(/1 private tag\(s\) were NOT checked: no registry login/);
    const json = await cli({}, "push", ISV, "img3.tar", "--json");
    expect((JSON.parse(json.stdout) as { deployed: boolean | null }).deployed).toBeNull();
  }, 180_000);
});
