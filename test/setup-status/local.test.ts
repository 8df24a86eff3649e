/**
 * `raas setup` and `raas status` on the local platform with S3 storage (s3rver on loopback),
 * a real bare git remote and the real background registry server: setup is idempotent and
 * repairs (killed server, leftover probe object, missing deploy hook, changed app
 * repository), and status finds each kind of damage with a precise message. The tests in
 * this file run in order on one ISV (about 15 s in all).
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobKey } from "../../src/crane/keys.js";
import { S3Store } from "../../src/storage/s3.js";
import { cliEnv, reservePort, runCli } from "../helpers/cli.js";
import { gitOut } from "../helpers/git.js";
import { buildDockerArchive, type BuiltImage } from "../helpers/image-builder.js";
import { s3RaasConfig, startS3rver, type RunningS3rver } from "../helpers/s3rver.js";

const ISV = "acme";
const BUCKET = "acme-images";

describe("setup and status on the local platform with S3 storage", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let s3: RunningS3rver;
  let store: S3Store;
  let image: BuiltImage;
  const raas = (...args: string[]) => runCli(args, { cwd: work, env });
  const isvDir = () => join(work, "home", "raas", ISV);
  const remote = () => join(isvDir(), "app.git");
  const head = () => gitOut(work, ["--git-dir", remote(), "rev-parse", "main"]);
  const pid = async () => Number((await readFile(join(isvDir(), "server.pid"), "utf8")).trim());
  const setupJson = async (...args: string[]) => {
    const run = await raas("setup", ISV, "--json", ...args);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    return JSON.parse(run.stdout) as { changed: boolean; checks: { name: string; detail: string }[] };
  };
  const detail = (report: { checks: { name: string; detail: string }[] }, name: string) =>
    report.checks.find((c) => c.name === name)?.detail ?? "";
  /** Commit a change to the app remote, as another operator (or a broken tool) would. */
  const changeApp = (change: (dir: string) => void, message: string) => {
    const dir = join(work, `edit-${Date.now()}`);
    execFileSync("git", ["clone", "--quiet", remote(), dir]);
    change(dir);
    gitOut(dir, ["add", "--all"]);
    gitOut(dir, ["commit", "--quiet", "-m", message]);
    gitOut(dir, ["push", "--quiet", "origin", "HEAD:main"]);
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-setup-status-"));
    env = cliEnv(join(work, "home"));
    await reservePort(join(work, "home", "raas"), ISV);
    s3 = await startS3rver();
    store = new S3Store({ bucket: BUCKET, endpoint: s3.endpoint, credentials: s3.credentials });
    await writeFile(
      join(work, "raas.cfg"),
      s3RaasConfig({ endpoint: s3.endpoint, credentials: s3.credentials }),
    );
    image = await buildDockerArchive(join(work, "app.tar"), { name: "acme/app", tag: "1.0", layers: 2 });
  }, 60_000);

  afterAll(async () => {
    const running = await pid().catch(() => undefined);
    if (running !== undefined) {
      try {
        process.kill(running, "SIGTERM");
      } catch {
        // already gone
      }
    }
    await store.close();
    await s3.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("refuses a missing bucket without --create, creates it with --create, records the ISV in raas.cfg", async () => {
    const refused = await raas("setup", ISV, "--s3bucket", BUCKET);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/the S3 bucket acme-images does not exist/);
    expect(refused.stderr).toMatch(/hint: Create it with `raas setup acme --create`/);

    const first = await setupJson("--s3bucket", BUCKET, "--create");
    expect(first.changed).toBe(true);
    expect(detail(first, "storage")).toMatch(/bucket created/);
    expect(await readFile(join(work, "raas.cfg"), "utf8")).toMatch(/\n\[acme\]\ns3_bucket = acme-images\n$/);
  });

  it("changes nothing the second time", async () => {
    const commit = head();
    const server = await pid();
    const cfg = await readFile(join(work, "raas.cfg"), "utf8");
    const again = await setupJson();
    expect(again.changed).toBe(false);
    expect(detail(again, "app repository")).toMatch(/up to date/);
    expect(detail(again, "registry server")).toMatch(/already running/);
    expect(head()).toBe(commit);
    expect(await pid()).toBe(server);
    expect(await readFile(join(work, "raas.cfg"), "utf8")).toBe(cfg);
  });

  it("status passes on a fresh push", async () => {
    const push = await raas("push", ISV, "app.tar");
    expect(push.code, push.stdout + push.stderr).toBe(0);
    const status = await raas("status", ISV, "--verify");
    expect(status.stdout).toMatch(/✔ acme\/app\s+1 tag\(s\), 3 blob\(s\) in storage \(re-hashed\)/);
    expect(status.stdout).toMatch(
      /✔ deployed repositories\s+the app serves the 1 repository in the metadata/,
    );
    // The local server follows the app repository: it serves the branch's newest commit.
    expect(status.stdout).toMatch(
      new RegExp(
        `✔ served commit\\s+the registry serves ${head().slice(0, 12)}, the newest commit of the app repository`,
      ),
    );
    expect(status.code, status.stdout).toBe(0);
    const terse = await raas("status", ISV, "--terse");
    expect(terse.stdout.trim()).toMatch(/^127\.0\.0\.1:\d+\/acme\/app:1\.0$/);
  });

  it("repairs a leftover probe object", async () => {
    // As a setup killed between the probe's write and its delete leaves it (the store itself refuses the prefix).
    await store.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: ".raas-probe/interrupted", Body: "left behind" }),
    );
    const status = await raas("status", ISV);
    expect(status.stdout).toMatch(/⚠ storage probes\s+1 probe object\(s\) left by an interrupted setup/);
    const repaired = await setupJson();
    expect(detail(repaired, "storage")).toMatch(/removed 1 leftover probe object\(s\)/);
    expect(await store.leftoverProbes()).toEqual([]);
  });

  it("reports a stopped app and restarts a killed server", async () => {
    const killed = await pid();
    process.kill(killed, "SIGKILL");
    await new Promise((r) => setTimeout(r, 200));
    const status = await raas("status", ISV);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/✖ platform\s+the local registry server is stopped/);
    expect(status.stdout).toMatch(
      /✖ registry app\s+the registry app is stopped: http:\/\/127\.0\.0\.1:\d+ does not answer/,
    );
    expect(status.stdout).toMatch(/fix: `raas setup acme` starts it again/);
    const repaired = await setupJson();
    expect(repaired.changed).toBe(true);
    expect(detail(repaired, "registry server")).toMatch(`restarted: the server process ${killed} was gone`);
    expect(await pid()).not.toBe(killed);
    expect((await raas("status", ISV)).code).toBe(0);
  });

  it("repairs a missing deploy hook, and restarts the server when the app repository changed", async () => {
    await rm(join(remote(), "hooks", "post-receive"));
    const hook = await setupJson();
    expect(detail(hook, "deployment")).toMatch(/^repaired: /);
    const before = await pid();
    changeApp((dir) => execFileSync("sh", ["-c", "echo edited >> README.md"], { cwd: dir }), "hand edit");
    const upgraded = await setupJson();
    expect(detail(upgraded, "app repository")).toMatch(/updated/);
    expect(detail(upgraded, "registry server")).toMatch(/restarted for the new app version/);
    expect(await pid()).not.toBe(before);
  });

  it("compares the registry's loaded tags with the metadata, and HEADs every tag of a repository that differs", async () => {
    const loaded = await raas("status", ISV, "--json");
    expect(loaded.code, loaded.stdout).toBe(0);
    const served = (run: { stdout: string }) =>
      (JSON.parse(run.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks;
    expect(served(loaded)).toContainEqual({
      name: "served tags",
      status: "ok",
      detail: expect.stringMatching(
        /has 1 of 1 repository loaded as in the metadata; 1 of 1 tag\(s\) HEADed, 1 served with their digest$/,
      ),
    });
    // The server's copy of the app repository breaks (as a full disk or a lost volume would):
    // the next push lands in git, but the registry keeps serving the commit before it. Status
    // notices that the commit served is not the branch's, and HEADs the tags that differ.
    const stale = head();
    const followDir = join(isvDir(), "follow.git");
    await rename(followDir, `${followDir}.lost`);
    try {
      const push = await raas("push", ISV, "app.tar", "--tag", "1.1", "--no-wait");
      expect(push.code, push.stdout + push.stderr).toBe(0);
      expect(head()).not.toBe(stale);
      const differs = await raas("status", ISV, "--json");
      expect(differs.code, differs.stdout).toBe(1);
      const checks = served(differs);
      expect(checks).toContainEqual({
        name: "served commit",
        status: "fail",
        detail: expect.stringMatching(
          new RegExp(
            `^the registry serves commit ${stale.slice(0, 12)} \\(loaded [^)]+\\), but the app repository is at ${head().slice(0, 12)}: it has not followed the repository for 10 s after being notified$`,
          ),
        ),
        fix: expect.stringMatching(
          /^the registry cannot fetch the app repository: its log names the failing git command/,
        ),
      });
      expect(checks).toContainEqual({
        name: "served tags",
        status: "fail",
        detail: expect.stringMatching(
          /has 0 of 1 repository loaded as in the metadata; the other 1 were HEADed tag by tag; 2 of 2 tag\(s\) HEADed, 1 served with their digest$/,
        ),
        fix: "`raas status acme --all-tags` lists every tag that is not served",
      });
      expect(checks).toContainEqual(
        expect.objectContaining({
          name: "acme/app:1.1",
          status: "fail",
          detail: expect.stringMatching(/404/),
        }),
      );
      // `raas setup`, the fix status names, replaces a server that stays behind once notified;
      // the new one fetches the repository again and serves the branch's newest commit.
      const repaired = await setupJson();
      expect(detail(repaired, "registry server")).toMatch(
        new RegExp(
          `^restarted as it served commit ${stale.slice(0, 12)} while \\S+ is at ${head().slice(0, 12)}, and did not catch up once notified \\(pid \\d+ -> \\d+\\)`,
        ),
      );
      const current = await raas("status", ISV, "--json");
      expect(served(current)).toContainEqual({
        name: "served commit",
        status: "ok",
        detail: `the registry serves ${head().slice(0, 12)}, the newest commit of the app repository`,
      });
    } finally {
      // The restarted server made a new copy; the lost one is only put back when there is none.
      await rename(`${followDir}.lost`, followDir).catch(() => rm(`${followDir}.lost`, { recursive: true }));
    }
    // --all-tags HEADs every tag whatever the registry reports: no summary of a sample.
    let all = { code: 1, stdout: "" };
    for (const deadline = Date.now() + 90_000; Date.now() < deadline;) {
      all = await raas("status", ISV, "--json", "--all-tags");
      if (all.code === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(all.code, all.stdout).toBe(0);
    expect(served(all).map((c) => c.name)).not.toContain("served tags");
    // Several status runs, each waiting for a reload of the registry: slow on a loaded machine.
  }, 300_000);

  it("finds each kind of damage with a precise message", async () => {
    const layer = image.manifests[0]?.layers[0];
    const config = image.manifests[0]?.config;
    if (layer === undefined || config === undefined) throw new Error("the test image has no layer");
    await store.delete(blobKey("acme-app", layer.digest));
    const orphan = `sha256:${"ab".repeat(32)}` as const;
    await store.put(blobKey("acme-app", orphan), Buffer.from("nobody references me"));
    // Same size, other bytes: only a re-hash notices.
    await store.put(blobKey("acme-app", config.digest), Buffer.alloc(config.bytes.length, 0x20));
    changeApp((dir) => {
      execFileSync("sh", ["-c", "echo '{\"version\": 4,' > data/acme-broken.json"], { cwd: dir });
      const manifests = execFileSync("ls", [join(dir, "manifests", "acme-app")], { encoding: "utf8" });
      for (const file of manifests.trim().split("\n")) {
        execFileSync("rm", [join(dir, "manifests", "acme-app", file)]);
      }
    }, "damage");
    await new Promise((r) => setTimeout(r, 2500)); // the server checks the branch every 2 s

    const status = await raas("status", ISV, "--verify");
    expect(status.code).toBe(1);
    const out = status.stdout;
    expect(out).toContain(
      `blob ${layer.digest} was deleted from storage (no object at acme-app/blobs/${layer.digest})`,
    );
    expect(out).toContain(
      `orphaned object acme-app/blobs/${orphan} (20 bytes): no manifest or tag of acme/app references it`,
    );
    expect(out).toMatch(/tag 1\.0: its manifest sha256:[0-9a-f]{64} is missing from the app repository/);
    expect(out).toContain(
      `blob ${config.digest} is corrupt in storage: acme-app/blobs/${config.digest} hashes to sha256:`,
    );
    expect(out).toMatch(
      /✖ metadata acme-broken\.json\s+malformed metadata: data\/acme-broken\.json: not valid JSON/,
    );
    expect(out).toMatch(/fix: push the image again/);

    const json = await raas("status", ISV, "--json");
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as { ok: boolean; checks: { status: string; detail: string }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => c.status === "fail").map((c) => c.detail)).not.toContainEqual(
      expect.stringMatching(/corrupt/),
    );
  });
});
