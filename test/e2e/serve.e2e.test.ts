/**
 * `raas serve`: the ISV's registry in the foreground, from what the last push deployed, until
 * a signal; then it finishes and exits 0. Driven through the CLI in-process, pulled by skopeo.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { cliEnv, reservePort, runCli } from "../helpers/cli.js";
import { buildOciLayout } from "../helpers/image-builder.js";
import { skopeoInspectDigest } from "../helpers/skopeo.js";

const ISV = "fg";

describe("raas serve", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-serve-"));
    env = cliEnv(join(work, "home"));
    await reservePort(join(work, "home", "raas"), ISV);
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("refuses an ISV that was never set up, saying what to run", async () => {
    const run = await runCli(["serve", ISV], { cwd: work, env });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/has no deployed registry/);
    expect(run.stderr).toMatch(/raas setup fg/);
  });

  it("serves the deployed repository in the foreground until a signal, then exits 0", async () => {
    expect((await runCli(["setup", ISV, "--no-start"], { cwd: work, env })).code).toBe(0);
    await buildOciLayout(join(work, "img.tar"), { name: "fg/app", tag: "1.0", layers: 2, gzip: true });
    const push = await runCli(["push", ISV, "img.tar", "--no-wait", "--json"], { cwd: work, env });
    expect(push.code, push.stderr).toBe(0);
    const digest = (JSON.parse(push.stdout) as { images: { digest: string }[] }).images[0]?.digest;

    const port = await reservePort(join(work, "other"), "x");
    let stop: (signal: NodeJS.Signals) => void = () => undefined;
    const stopped = new Promise<NodeJS.Signals>((resolve) => (stop = resolve));
    const stdout = new PassThrough();
    let out = "";
    stdout.on("data", (c: Buffer) => (out += c.toString()));
    const serving = main(["serve", ISV, "--port", String(port)], {
      stdout,
      stderr: new PassThrough(),
      env,
      cwd: work,
      untilSignal: () => stopped,
    });
    const deadline = Date.now() + 15_000;
    while (!out.includes("Serving") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(out).toContain(`Serving fg's registry at http://127.0.0.1:${port}`);

    expect(await skopeoInspectDigest(`127.0.0.1:${port}/fg/app:1.0`)).toBe(digest);
    stop("SIGTERM");
    expect(await serving).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/v2/`)).rejects.toThrow();
  });
});
