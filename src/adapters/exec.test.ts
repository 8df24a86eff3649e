import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { UserError } from "../errors.js";
import { tempDir } from "../../test/helpers/git.js";
import { commandLine, isAlive, run, spawnDetached } from "./exec.js";

describe("run", () => {
  it("passes arguments untouched by any shell", async () => {
    const { stdout } = await run(process.execPath, ["-e", "console.log(process.argv[1])", "$HOME; echo hi"]);
    expect(stdout).toBe("$HOME; echo hi");
  });

  it("turns a failure into a UserError with the command's last words", async () => {
    const err = await run(process.execPath, ["-e", "console.error('boom'); process.exit(3)"]).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/exited with 3:\n\s+boom/);
  });
});

describe("spawnDetached", () => {
  it("starts a background process logging to a file", async () => {
    const dir = await tempDir();
    const logFile = path.join(dir, "out.log");
    const pid = spawnDetached(process.execPath, ["-e", "console.log('up'); setTimeout(() => {}, 200)"], {
      logFile,
    });
    expect(isAlive(pid)).toBe(true);
    expect(await commandLine(pid)).toContain(process.execPath);
    for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(50);
    expect(isAlive(pid)).toBe(false);
    expect(await readFile(logFile, "utf8")).toBe("up\n");
  });

  it("reports an executable that does not exist", async () => {
    const dir = await tempDir();
    expect(() => spawnDetached(path.join(dir, "missing"), [], { logFile: path.join(dir, "log") })).toThrow(
      /could not start/,
    );
  });
});
