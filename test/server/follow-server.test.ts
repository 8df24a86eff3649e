import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registryTrust } from "../../src/app/registry-http.js";
import { notifyRegistry } from "../../src/commands/notify.js";
import { RecordingReporter } from "../../src/ui/reporter.js";
import { startRegistryServer, type LogRecord, type RunningRegistry } from "../../src/server/start.js";
import {
  buildImages,
  makeAppRepo,
  publish,
  repoGit,
  type AppRepo,
} from "../../src/server/testing/fixture.js";

let repo: AppRepo;
let server: RunningRegistry;
const logs: LogRecord[] = [];
/** These registries serve plain HTTP: the client trusts only the system's CAs, with no login. */
const plainClient = () => Promise.resolve({ ...registryTrust(undefined), login: undefined });

const git = (...args: string[]) => repoGit(repo.root).git(...args);
const commitAll = (message: string) => repoGit(repo.root).commitAll(message);

const manifestStatus = async (name: string, tag: string) =>
  (await fetch(`${server.url}/v2/${name}/manifests/${tag}`, { method: "HEAD" })).status;

async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check()) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`not within ${ms} ms`);
}

beforeAll(async () => {
  // The data dir named in [general] does not exist: in follow mode nothing is read from disk.
  repo = await makeAppRepo(
    (p) => `[general]
data_dir = nowhere/data
data_dir_polling_interval = 0.1
[serve_content]
enable = true
content_dir_v1 = ${p.contentV1}
content_dir_v2 = ${p.contentV2}
use_x_sendfile = false
[metadata]
follow = .
follow_interval = 600
follow_dir = .follow
`,
  );
  await writeFile(join(repo.root, ".gitignore"), ".follow/\ncontent/\nregistry.conf\n");
  await publish(repo, "acme-app.json", buildImages("acme/app", "acme-app", "acme"));
  git("init", "--quiet", "-b", "main");
  commitAll("first");
  server = await startRegistryServer({
    configPath: repo.configPath,
    host: "127.0.0.1",
    port: 0,
    log: (r) => logs.push(r),
  });
});

afterAll(async () => {
  await server.close();
  await repo.cleanup();
});

describe("follow mode in one server process", () => {
  it("serves the followed branch, and a notification makes a new commit live without waiting for the interval", async () => {
    expect(await manifestStatus("acme/app", "latest")).toBe(200);
    await publish(repo, "acme-web.json", buildImages("acme/web", "acme-web", "web"));
    const second = commitAll("second");
    // The interval is ten minutes: without a notification the new tag stays unknown.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await manifestStatus("acme/web", "latest")).toBe(404);
    const res = await fetch(`${server.url}/raas/notify`, { method: "POST" });
    expect(res.status).toBe(202);
    await within(5000, async () => (await manifestStatus("acme/web", "latest")) === 200);
    // The reload is named by its commit, and read only the one changed metadata file.
    expect(logs).toContainEqual(expect.objectContaining({ event: "reload", commit: second, parsed: 1 }));
    const loaded = (await (await fetch(`${server.url}/raas/loaded`)).json()) as { repositories?: unknown };
    expect(JSON.stringify(loaded)).toContain("acme/web");
  });

  it("a flood of notifications is throttled into a few checks", async () => {
    const before = logs.length;
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        fetch(`${server.url}/raas/notify`, { method: "POST" }).then((r) => r.status),
      ),
    );
    expect(new Set(answers)).toEqual(new Set([202]));
    // Nothing changed, so nothing reloads.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(logs.slice(before).filter((r) => r.event === "reload")).toEqual([]);
  });

  it("refuses other methods and request bodies", async () => {
    expect((await fetch(`${server.url}/raas/notify`)).status).toBe(405);
    const big = await fetch(`${server.url}/raas/notify`, { method: "POST", body: "x".repeat(5000) });
    expect(big.status).toBe(413);
  });

  it("`raas push`'s notification: taken by a following registry, a warning when it cannot be reached", async () => {
    const reporter = new RecordingReporter();
    expect(await notifyRegistry(server.url, reporter, plainClient)).toBe(true);
    expect(reporter.lines).toEqual([]);
    const closed = new RecordingReporter();
    expect(await notifyRegistry("http://127.0.0.1:1", closed, plainClient)).toBe(false);
    expect(closed.lines).toEqual([
      expect.stringMatching(/^warn: could not notify the registry at http:\/\/127\.0\.0\.1:1/),
    ]);
  });
});

describe("without follow", () => {
  it("there is no notification endpoint (a POST is refused as every write is today), and `raas push` stays silent about it", async () => {
    const dirRepo = await makeAppRepo(() => "[general]\ndata_dir = data\n");
    const plain = await startRegistryServer({ configPath: dirRepo.configPath, host: "127.0.0.1", port: 0 });
    try {
      expect((await fetch(`${plain.url}/raas/notify`, { method: "POST" })).status).toBe(405);
      const reporter = new RecordingReporter();
      expect(await notifyRegistry(plain.url, reporter, plainClient)).toBe(false);
      expect(reporter.lines).toEqual([]);
    } finally {
      await plain.close();
      await dirRepo.cleanup();
    }
  });
});
