/**
 * What `raas gc` tells the user, run through the CLI on the embedded default (local storage, a
 * real app repository, no background server): each line says what was kept or removed and why,
 * with the grace period and upload age exactly as given on the command line.
 */
import { utimes } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { blobKey } from "../../src/crane/keys.js";
import { LocalStore } from "../../src/storage/local.js";
import { cliEnv, reservePort, runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/git.js";

const ISV = "gcout";
const HOUR = 3_600_000;
const SESSION = "0b5d1a3e-7c2f-4a61-9d3e-5f7a8b9c0d1e";

describe("raas gc output", () => {
  it("names what it kept and why, with the grace and upload age as given", async () => {
    const work = await tempDir("raas-gc-output-");
    const home = join(work, "home");
    const env = cliEnv(home);
    await reservePort(join(home, "raas"), ISV);
    const raas = (...args: string[]) => runCli(args, { cwd: work, env });
    const setup = await raas("setup", ISV, "--no-start");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);

    // Unreferenced objects: one written a minute ago, one three hours ago; an upload session
    // idle for three hours.
    const root = join(home, "raas", ISV, "storage");
    const store = new LocalStore(root);
    const young = blobKey("acme-app", `sha256:${"a".repeat(64)}`);
    const old = blobKey("acme-app", `sha256:${"b".repeat(64)}`);
    const session = `.raas-uploads/${SESSION}/state`;
    for (const key of [young, old, session]) await store.put(key, Buffer.from(key));
    const threeHoursAgo = new Date(Date.now() - 3 * HOUR);
    for (const key of [old, session]) await utimes(join(root, key), threeHoursAgo, threeHoursAgo);

    // 120m is the same as 2h; the user reads it back as they wrote it.
    const run = await raas("gc", ISV, "--dry-run", "--grace", "120m", "--upload-age", "90m");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain("Would free 1 unreferenced object(s) older than the 120m grace period");
    expect(run.stdout).toMatch(
      /too recent +kept 1 unreferenced object\(s\) written or last referenced less than 120m ago \(the grace period/,
    );
    expect(run.stdout).toMatch(/referenced +kept 0 object\(s\) the metadata references/);
    expect(run.stdout).toMatch(
      /uploads +would remove 1 upload session\(s\) idle for longer than 90m, .*; kept 0 written to within 90m/,
    );

    // Without --grace the default is shown as the help writes it.
    const byDefault = await raas("gc", ISV, "--dry-run", "--json");
    expect(JSON.parse(byDefault.stdout)).toMatchObject({ gc: { grace: "24h" } });
  });

  it("explains --upload-age in its help: what it removes, the unit syntax and the default", async () => {
    const work = await tempDir("raas-gc-help-");
    const help = await runCli(["gc", "--help"], { cwd: work, env: cliEnv(join(work, "home")) });
    const text = help.stdout.replace(/\s+/g, " ");
    expect(text).toMatch(/--upload-age <duration> also remove abandoned upload sessions: blob uploads/);
    expect(text).toMatch(
      /90s, 30m, 24h, 7d; at least 1h unless --unsafe-grace; default: upload sessions are never removed/,
    );
  });
});
