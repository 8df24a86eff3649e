import { mkdir, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { RecordingReporter } from "../ui/reporter.js";
import { gitOut, tempDir, tempGitRemote } from "../../test/helpers/git.js";
import { RunLog, scrub } from "./conf-repo-log.js";
import { ConfRepoSession } from "./conf-repo.js";

const NOW = () => new Date("2026-03-04T05:06:07.000Z");

async function cloneOf(remote: string): Promise<string> {
  const dir = path.join(await tempDir("raas-conf-clone-"), "repo");
  gitOut(path.dirname(dir), ["clone", "--quiet", "--branch", "stage", "--depth", "1", remote, dir]);
  return dir;
}

describe("ConfRepoSession", () => {
  it("commits the log, backups and other modules' files, and re-applies them after losing a race", async () => {
    const { remote } = await tempGitRemote({
      branch: "stage",
      files: { "raas.cfg": "[raas]\n", "acme/logs/2026-03-04.log": "earlier line\n" },
    });
    const a = await cloneOf(remote);
    const b = await cloneOf(remote);
    const first = new ConfRepoSession(
      { url: remote, branch: "stage", dir: a },
      { isv: "acme", action: "setup", now: NOW },
    );
    const second = new ConfRepoSession(
      { url: remote, branch: "stage", dir: b },
      { isv: "acme", action: "push", app: "web", now: NOW },
    );
    await Promise.all([first.ready(), second.ready()]);
    second.backupMetadata("data/acme-web.json", '{"version": 4}\n');
    // Another module writes into the clone during the run.
    await mkdir(path.join(b, "redhat"), { recursive: true });
    await writeFile(path.join(b, "redhat", "descriptors.json"), "{}\n");

    expect(await first.finish(["line from a"], true)).toMatch(/^[0-9a-f]{40}$/);
    // b's clone is now behind: its push is rejected, and its changes land on top of a's.
    expect(await second.finish(["line from b"], true)).toMatch(/^[0-9a-f]{40}$/);

    const check = await cloneOf(remote);
    expect(await readFile(path.join(check, "acme/logs/2026-03-04.log"), "utf8")).toBe(
      "earlier line\nline from a\nline from b\n",
    );
    expect(await readFile(path.join(check, "acme/metadata/acme-web.json"), "utf8")).toBe('{"version": 4}\n');
    expect(await readFile(path.join(check, "redhat/descriptors.json"), "utf8")).toBe("{}\n");
    expect(gitOut(check, ["log", "--format=%s", "-2"]).split("\n")).toEqual([
      "acme push web update by raas",
      "acme setup update by raas",
    ]);
  });

  it("commits nothing when asked not to, or when nothing changed", async () => {
    const { remote } = await tempGitRemote({ branch: "stage", files: { "raas.cfg": "[raas]\n" } });
    const dir = await cloneOf(remote);
    const session = new ConfRepoSession(
      { url: remote, branch: "stage", dir },
      { isv: "acme", action: "status" },
    );
    expect(await session.finish(["a line"], false)).toBeUndefined();
    const idle = new ConfRepoSession(
      { url: remote, branch: "stage", dir: await cloneOf(remote) },
      { isv: "acme", action: "status" },
    );
    expect(await idle.finish([], true)).toBeUndefined();
    expect(gitOut(dir, ["--git-dir", remote, "log", "--format=%s", "stage"])).toBe("initial");
  });

  it("refuses a backup name that could leave <isv>/metadata/", async () => {
    const { remote } = await tempGitRemote({ branch: "stage", files: { "raas.cfg": "" } });
    const session = new ConfRepoSession(
      { url: remote, branch: "stage", dir: await cloneOf(remote) },
      { isv: "acme", action: "push" },
    );
    expect(() => session.backupMetadata("data/..", "{}")).toThrow(/refusing/);
  });
});

describe("RunLog", () => {
  it("records what the run reported, timestamped and scrubbed, and passes everything on", () => {
    const inner = new RecordingReporter("debug");
    const log = new RunLog(inner, ["s3cr3t-value", "tok-123456"], NOW);
    log.info("using key s3cr3t-value for the bucket");
    log.debug("debug lines stay out of the log: tok-123456");
    const step = log.step("Storage");
    step.succeed("Storage: ok with tok-123456");
    log.error("two\nlines");
    expect(log.lines).toEqual([
      "2026-03-04T05:06:07.000Z info using key *** for the bucket",
      "2026-03-04T05:06:07.000Z ok Storage: ok with ***",
      "2026-03-04T05:06:07.000Z error two",
      "2026-03-04T05:06:07.000Z error lines",
    ]);
    expect(inner.lines).toContain("debug: debug lines stay out of the log: tok-123456");
  });

  it("replaces a longer secret whole before a shorter one it contains", () => {
    expect(scrub("abc123456789 and abc1234", ["abc123456789", "abc1234"])).toBe("*** and ***");
  });
});
