import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { main, makeReporter } from "./main.js";
import { processIo } from "./io.js";
import { buildProgram, type GlobalOptions, type Invocation } from "./program.js";

async function parse(argv: string[]): Promise<{ invocation: Invocation; globals: GlobalOptions }> {
  let seen: { invocation: Invocation; globals: GlobalOptions } | undefined;
  const program = buildProgram((invocation, globals) => {
    seen = { invocation, globals };
    return Promise.resolve();
  });
  program.exitOverride();
  await program.parseAsync(argv, { from: "user" });
  if (seen === undefined) throw new Error("no command ran");
  return seen;
}

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  stderr.on("data", (c: Buffer) => (err += c.toString()));
  const code = await main(argv, {
    stdout,
    stderr,
    env: {},
    cwd: "/",
    untilSignal: () => new Promise(() => undefined),
  });
  return { code, out, err };
}

describe("command line", () => {
  it("turns argv into typed invocations, with global options anywhere", async () => {
    const { invocation, globals } = await parse([
      "push",
      "acme",
      "app.tar",
      "--tag",
      "1.0",
      "--tag",
      "latest",
      "--json",
    ]);
    expect(invocation).toEqual({
      command: "push",
      isv: "acme",
      image: "app.tar",
      options: { tag: ["1.0", "latest"], wait: true, timeout: 60, srcTlsVerify: true },
    });
    expect(globals).toMatchObject({
      json: true,
      terse: false,
      nocommit: false,
      log: "info",
    });

    const setup = await parse([
      "--config",
      "x.cfg",
      "setup",
      "acme",
      "--create",
      "--s3bucket",
      "b",
      "--no-start",
    ]);
    expect(setup.invocation).toMatchObject({
      command: "setup",
      isv: "acme",
      options: { create: true, s3bucket: "b", start: false },
    });
    expect(setup.globals.config).toBe("x.cfg");

    const status = await parse(["status", "acme", "-a", "acme/app", "--verify", "-t"]);
    expect(status.invocation).toMatchObject({
      command: "status",
      options: { app: "acme/app", verify: true, allTags: false },
    });
    expect(status.globals.terse).toBe(true);
    const everyTag = await parse(["status", "acme", "--all-tags"]);
    expect(everyTag.invocation).toMatchObject({ options: { verify: false, allTags: true } });
  });

  it("exits 2 on usage errors and 0 on --help, listing every command with examples", async () => {
    expect((await capture(["push", "acme"])).code).toBe(2);
    expect((await capture(["frobnicate"])).code).toBe(2);
    expect((await capture(["--log", "loud", "status", "x"])).code).toBe(2);
    expect((await capture(["setup", "x", "--timeout", "-1"])).code).toBe(2);
    const help = await capture(["--help"]);
    expect(help.code).toBe(0);
    for (const word of ["setup", "push", "serve", "status", "Examples:", "Exit codes"]) {
      expect(help.out).toContain(word);
    }
  });

  it("gives every kind of bad argument the usage exit code, naming the flag or value, with a --help hint", async () => {
    // No ISV is set up: a bad argument must be told before that is found out.
    const cases: [string[], RegExp][] = [
      [["push", "acme", "app.tar", "--bogus"], /unknown option '--bogus'/],
      [["push", "acme"], /missing required argument 'image'/],
      [["frobnicate"], /unknown command 'frobnicate'/],
      [["user", "frob"], /unknown command 'frob'/],
      [["push", "acme", "app.tar", "--timeout", "soon"], /--timeout <seconds>.*'soon'/],
      // Beyond what a timer holds (2^31 - 1 ms), a wait would end at once.
      [["setup", "acme", "--timeout", "99999999999999999999"], /--timeout <seconds>.*from 1 to 604800/],
      [["promote", "acme", "acme/app:1", "--to", "prod", "--timeout", "1e3"], /--timeout <seconds>.*'1e3'/],
      [["gc", "acme", "--grace", "abc"], /--grace <duration>.*'abc'.*90s, 30m, 24h or 7d/],
      [["gc", "acme", "--upload-age", "1week"], /--upload-age <duration>.*'1week'/],
      [["stats", "acme", "--since", "garbage"], /--since <date>.*'garbage'.*YYYY-MM-DD/],
      [["stats", "acme", "--since", "2025-02-30"], /--since <date>.*'2025-02-30'/],
      [["status", "acme", "--storage", "ftp"], /--storage: "ftp"/],
      [["status", "acme", "--platform", "k8s"], /--platform: "k8s"/],
      [["status", "acme", "--redirect", "sometimes"], /--redirect: "sometimes"/],
      [["status", "acme", "--s3-endpoint", "not a url"], /--s3-endpoint/],
    ];
    for (const [argv, message] of cases) {
      const run = await capture(["--state-dir", "/nonexistent/raas-home", ...argv]);
      expect({ argv, code: run.code }).toEqual({ argv, code: 2 });
      expect(run.err, argv.join(" ")).toMatch(message);
      expect(run.err, argv.join(" ")).toMatch(/--help/);
    }
  });

  it("refuses an unknown --env the same way in every command, naming the known environments", async () => {
    const dir = mkdtempSync(join(tmpdir(), "raas-env-cli-"));
    try {
      const cfg = join(dir, "raas.cfg");
      writeFileSync(cfg, `[raas]\nstate_dir = ${join(dir, "home")}\n[acme]\nenvironments = test prod\n`);
      for (const env of ["nope", "", "__proto__", "../x", "z".repeat(10_000)]) {
        const answers = new Set<string>();
        for (const argv of [
          ["status", "acme"],
          ["gc", "acme"],
          ["stats", "acme"],
          ["serve", "acme"],
        ]) {
          const run = await capture(["--config", cfg, ...argv, "--env", env]);
          expect({ argv, env: env.slice(0, 10), code: run.code }).toMatchObject({ code: 2 });
          answers.add(run.err);
        }
        expect([...answers]).toHaveLength(1);
        expect([...answers][0]).toMatch(
          /^error: acme has no environment ".{0,65}"\nhint: Its environments: test, prod\.\n$/,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("describes every command and subcommand in --help", () => {
    const program = buildProgram(() => Promise.resolve());
    const missing: string[] = [];
    const walk = (cmd: typeof program, path: string) => {
      for (const sub of cmd.commands) {
        const name = `${path} ${sub.name()}`.trim();
        if (sub.description() === "" && sub.summary() === "") missing.push(name);
        walk(sub, name);
      }
    };
    walk(program, "");
    expect(missing).toEqual([]);
  });

  it("prints push --help examples one per line and no empty default for --tag", async () => {
    const help = await capture(["push", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).not.toContain("(default: [])");
    const examples = help.out.split("\n").filter((line) => line.trimStart().startsWith("$ "));
    expect(examples).toHaveLength(4);
    for (const line of examples) expect(line.match(/\$ /g)).toHaveLength(1);
    expect((await parse(["push", "acme", "app.tar"])).invocation).toMatchObject({ options: { tag: [] } });
  });

  it("asks the process to favour memory for status only (it reads every file of the registry)", async () => {
    const asked: string[] = [];
    const run = (argv: string[]) =>
      main(argv, {
        stdout: new PassThrough(),
        stderr: new PassThrough(),
        env: { RAAS_HOME: "/nonexistent/raas-home" },
        cwd: "/",
        untilSignal: () => new Promise<NodeJS.Signals>(() => undefined),
        favourMemory: () => asked.push(argv[0] ?? ""),
      });
    // Neither ISV is set up: each command fails early, after the choice is made.
    await run(["status", "acme"]);
    await run(["stats", "acme"]);
    await run(["--json", "status", "acme"]);
    expect(asked).toEqual(["status", "--json"]);
    expect(typeof processIo().favourMemory).toBe("function");
  });

  it("chooses plain output when the terminal reports no usable width", () => {
    const tty = (columns: number | undefined) =>
      Object.assign(new PassThrough(), { isTTY: true, columns }) as unknown as NodeJS.WriteStream;
    const globals = { log: "info", terse: false, json: false, nocommit: false } as const;
    const io = (columns: number | undefined) => ({
      stdout: new PassThrough(),
      stderr: tty(columns),
      env: {},
      cwd: "/",
      untilSignal: () => new Promise<NodeJS.Signals>(() => undefined),
    });
    expect(makeReporter(globals, io(120)).constructor.name).toBe("TtyReporter");
    for (const columns of [0, undefined, 5]) {
      expect(makeReporter(globals, io(columns)).constructor.name, String(columns)).toBe("PlainReporter");
    }
  });

  it("takes configuration overrides as global options and validates them with the configuration", async () => {
    const { globals } = await parse([
      "--storage",
      "s3",
      "status",
      "acme",
      "--s3-endpoint",
      "http://127.0.0.1:9",
      "--redirect",
      "public",
    ]);
    expect(globals).toMatchObject({ storage: "s3", s3Endpoint: "http://127.0.0.1:9", redirect: "public" });
    const run = await capture(["status", "acme", "--storage", "ftp"]);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/option --storage: "ftp" is not one of local, s3/);
    expect(run.err).toMatch(/--help/);
  });

  it("rejects an invalid ISV name as a usage error before touching anything", async () => {
    const run = await capture(["status", "Not_Valid!"]);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/not a valid ISV name/);
  });
});
