/**
 * Docker credential helpers against a real upstream that asks for HTTP Basic credentials:
 * Debian's `docker-registry` (distribution 2.8) with its htpasswd auth, seeded with skopeo.
 * The helpers are real programs the test writes into a directory on raas's PATH and configures
 * in docker's config.json, as `docker login` with a credential store would leave it.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import {
  type HelperAnswers,
  writeCredentialHelper,
  writeDockerConfig,
} from "../helpers/docker-credentials.js";
import { seed, startDockerRegistry, type RunningRegistry } from "../helpers/docker-registry.js";
import { buildOciLayout } from "../helpers/image-builder.js";

const run = promisify(execFile);
const ISV = "credtest";
const USER = "puller";
const PASSWORD = "basic-long-password-3";

async function inspectDigest(ref: string, creds?: string): Promise<string> {
  const { stdout } = await run(
    "skopeo",
    [
      ...["inspect", "--tls-verify=false", "--retry-times", "0", "--format", "{{.Digest}}"],
      ...(creds === undefined ? ["--no-creds"] : ["--creds", creds]),
      `docker://${ref}`,
    ],
    { timeout: 60_000 },
  );
  return stdout.trim();
}

describe("credential helpers against a registry with HTTP Basic auth", () => {
  let work: string;
  let bin: string;
  let home: string;
  let upstream: RunningRegistry;
  let raasHost: string;
  const raas = (...args: string[]) =>
    runCli(args, { cwd: work, env: cliEnv(home, { PATH: `${bin}:${process.env.PATH ?? ""}` }) });

  const helper = (name: string, answers: HelperAnswers) => writeCredentialHelper(bin, name, answers);

  const dockerConfig = (doc: unknown) => writeDockerConfig(home, doc);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-source-creds-"));
    bin = join(work, "bin");
    await mkdir(bin);
    home = join(work, "home");
    raasHost = `127.0.0.1:${await reservePort(join(home, "raas"), ISV)}`;
    upstream = await startDockerRegistry(join(work, "upstream"), {
      htpasswd: { username: USER, password: PASSWORD },
    });
    const archive = join(work, "tool.tar");
    await buildOciLayout(archive, {
      name: "team/tool",
      tag: "1.0",
      layers: 2,
      gzip: true,
      layerSize: 16 * 1024,
    });
    await seed(archive, upstream.host, "team/tool:1.0", `${USER}:${PASSWORD}`);
    const v2 = await fetch(`http://${upstream.host}/v2/`);
    expect(v2.status).toBe(401);
    expect(v2.headers.get("www-authenticate")).toMatch(/^Basic /);
    const setup = await raas("setup", ISV);
    expect(setup.code, setup.stderr).toBe(0);
  }, 300_000);

  afterAll(async () => {
    await stopBackgroundServer(join(home, "raas"), ISV);
    await upstream?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("a helper with nothing for the host leaves the pull anonymous, which the registry refuses", async () => {
    await helper("empty", {});
    await dockerConfig({ credsStore: "empty" });
    const refused = await raas(
      "push",
      ISV,
      `docker://${upstream.host}/team/tool:1.0`,
      "--src-tls-verify",
      "false",
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `docker://${upstream.host}/team/tool: the registry asks for a user name and password`,
    );
    expect(refused.stderr).toMatch(/log in/i);
    expect(await readFile(join(bin, "empty.log"), "utf8")).toBe(`get ${upstream.host}\n`);
  }, 120_000);

  it("a helper's wrong password is refused without being shown", async () => {
    await helper("stale", { [upstream.host]: { Username: USER, Secret: "stale-password-4" } });
    await dockerConfig({ credHelpers: { [upstream.host]: "stale" }, credsStore: "empty" });
    const refused = await raas(
      "push",
      ISV,
      `docker://${upstream.host}/team/tool:1.0`,
      "--src-tls-verify",
      "false",
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/answered HTTP 401/);
    expect(refused.stderr).toContain("docker-credential-stale");
    expect(refused.stderr + refused.stdout).not.toContain("stale-password-4");
  }, 120_000);

  it("the credHelpers entry for the host logs in and the digest is kept", async () => {
    await helper("vault", { [upstream.host]: { Username: USER, Secret: PASSWORD } });
    await dockerConfig({ credHelpers: { [upstream.host]: "vault" }, credsStore: "empty" });
    const pushed = await raas(
      ...["push", ISV, `docker://${upstream.host}/team/tool:1.0`, "--src-tls-verify", "false", "--json"],
    );
    expect(pushed.code, pushed.stderr).toBe(0);
    const digest = await inspectDigest(`${upstream.host}/team/tool:1.0`, `${USER}:${PASSWORD}`);
    expect((JSON.parse(pushed.stdout) as { images: { digest: string }[] }).images[0]?.digest).toBe(digest);
    expect(await inspectDigest(`${raasHost}/team/tool:1.0`)).toBe(digest);
    expect(pushed.stdout + pushed.stderr).not.toContain(PASSWORD);
  }, 180_000);
});
