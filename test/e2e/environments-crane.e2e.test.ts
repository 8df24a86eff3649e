/**
 * Environments on a shared store cannot be served by Pulp Crane in redirect mode (their tags live
 * under `_env/<env>/`; Crane reads tags at their plain keys), so with `[raas] docker_schema2 = true`
 * (publishing for Crane) setup, push and promote refuse an environment that shares the store, name
 * the option and the fix, and write nothing; an environment with a store of its own is set up.
 */
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, runCli } from "../helpers/cli.js";
import { buildOciLayout } from "../helpers/image-builder.js";

const ISV = "craned";

describe("docker_schema2 (Pulp Crane) with environments on a shared store", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  const raas = (...args: string[]) => runCli(args, { cwd: work, env });
  const config = (extra: string[]) =>
    writeFile(
      join(work, "raas.cfg"),
      ["[raas]", "docker_schema2 = true", `[${ISV}]`, "environments = test prod", ...extra, ""].join("\n"),
    );

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-env-crane-"));
    env = cliEnv(join(work, "home"));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("setup, push and promote refuse an environment sharing the store, naming the option and the fix", async () => {
    await config(["[craned.prod]", "store = own"]);
    const setup = await raas("setup", ISV, "--env", "test", "--no-start");
    expect(setup.code).toBe(1);
    expect(setup.stderr).toContain(
      `${ISV} test shares the ISV's store, where each environment's tags live under _env/test/, and [raas] docker_schema2 = true publishes for Pulp Crane`,
    );
    expect(setup.stderr).toContain("nothing was set up");
    expect(setup.stderr).toContain(`store = own, or s3_bucket = <bucket>, in [${ISV}.test]`);
    expect(setup.stderr).toContain("remove docker_schema2");
    // Nothing of test was set up: only the port opening its context reserved, no app repository, no store.
    const state = join(work, "home", "raas", `${ISV}.test`);
    expect(await readdir(state, { recursive: true }).catch(() => [])).toEqual(["platform.json"]);
    expect(await readdir(join(work, "home", "raas"))).not.toContain(ISV);

    const image = await buildOciLayout(join(work, "img.tar"), {
      name: "acme/app",
      tag: "1.0",
      layers: 1,
      gzip: true,
    });
    const push = await raas("push", ISV, image.path, "--env", "test", "--json");
    expect(push.code).toBe(1);
    expect(JSON.parse(push.stdout)).toMatchObject({ ok: false, error: { code: "CRANE_SHARED_STORE" } });

    // Promoting into a shared-store environment is refused the same way (before the source is read).
    await config(["[craned.test]", "store = own"]);
    const promote = await raas("promote", ISV, "acme/app:1.0", "--from", "test", "--to", "prod");
    expect(promote.code).toBe(1);
    expect(promote.stderr).toContain(`${ISV} prod shares the ISV's store`);
    expect(promote.stderr).toContain("nothing was promoted");
  }, 120_000);

  it("an environment with a store of its own is set up", async () => {
    await config(["[craned.test]", "store = own", "[craned.prod]", "store = own"]);
    const setup = await raas("setup", ISV, "--env", "test", "--no-start");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    expect(await readdir(join(work, "home", "raas"))).toContain(`${ISV}.test`);
  }, 120_000);
});
