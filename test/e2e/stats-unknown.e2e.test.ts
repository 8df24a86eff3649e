/**
 * `raas stats <isv> <name>` through the CLI on the embedded default: a repository the registry
 * does not know is an error naming the ones it has (a typo must not read as "nobody pulls it");
 * a published repository nobody pulled yet shows zeros for its tags.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/git.js";
import { buildDockerArchive } from "../helpers/image-builder.js";

const ISV = "statsun";

describe("raas stats for one repository", () => {
  it("refuses an unknown repository and shows zeros for a published one nobody pulled", async () => {
    const work = await tempDir("raas-stats-unknown-");
    const env = cliEnv(join(work, "home"));
    await reservePort(join(work, "home", "raas"), ISV);
    const raas = (...args: string[]) => runCli(args, { cwd: work, env });
    const setup = await raas("setup", ISV, "--no-start");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);

    const nothing = await raas("stats", ISV, "acme/app");
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain(`error: raas stats: ${ISV} has no repository acme/app`);
    expect(nothing.stderr).toContain(`hint: ${ISV} has published nothing yet.`);

    const image = await buildDockerArchive(join(work, "app.tar"), {
      name: "acme/app",
      tag: "1.0",
      layers: 1,
    });
    const push = await raas("push", ISV, image.path, "--tag", "1.0", "--tag", "latest", "--no-wait");
    expect(push.code, push.stdout + push.stderr).toBe(0);

    const typo = await raas("--json", "stats", ISV, "acme/ap");
    expect(typo.code).toBe(1);
    expect(JSON.parse(typo.stdout)).toMatchObject({
      ok: false,
      error: { code: "UNKNOWN_REPOSITORY", hint: "Its repositories: acme/app." },
    });

    const zero = await raas("--json", "stats", ISV, "acme/app");
    expect(zero.code, zero.stderr).toBe(0);
    expect(JSON.parse(zero.stdout)).toMatchObject({
      pulls: 0,
      totals: [
        { repository: "acme/app", tag: "1.0", pulls: 0 },
        { repository: "acme/app", tag: "latest", pulls: 0 },
      ],
    });
    const text = await raas("stats", ISV, "acme/app");
    expect(text.stdout).toMatch(/^Pulls of acme\/app: 0\n/);
    // Every repository, with nothing pulled: still the plain answer.
    expect((await raas("stats", ISV)).stdout).toBe(`No pulls recorded for ${ISV}.\n`);
  });
});
