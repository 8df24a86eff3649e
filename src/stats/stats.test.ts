import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LocalStore } from "../storage/local.js";
import type { BlobStore } from "../storage/types.js";
import { compactPullStats, readPullStats } from "./aggregate.js";
import { PullCounter, PULLS_PREFIX } from "./counters.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempStore(): Promise<LocalStore> {
  const dir = await mkdtemp(join(tmpdir(), "raas-stats-"));
  dirs.push(dir);
  return new LocalStore(dir);
}

describe("pull statistics", () => {
  it("merges the counters of several processes and days, and compaction changes no total", async () => {
    const store = await tempStore();
    let now = new Date("2026-11-01T10:00:00Z");
    const a = new PullCounter(store, "a", () => now.getTime());
    const b = new PullCounter(store, "b", () => now.getTime());
    for (let i = 0; i < 7; i++) a.count("acme/app", "1.0");
    b.count("acme/app", "1.0");
    b.count("acme/web", "2.0");
    await Promise.all([a.flush(), b.flush()]);
    a.count("acme/app", "1.0");
    await a.flush();
    now = new Date("2026-11-05T10:00:00Z");
    a.count("acme/app", "1.0");
    await a.flush();
    await a.flush(); // nothing counted: nothing written
    const before = await readPullStats(store);
    expect(before).toEqual([
      { day: "2026-11-01", repository: "acme/app", tag: "1.0", pulls: 9 },
      { day: "2026-11-01", repository: "acme/web", tag: "2.0", pulls: 1 },
      { day: "2026-11-05", repository: "acme/app", tag: "1.0", pulls: 1 },
    ]);
    // Two compactions at once, then one more: the totals stay the same.
    await Promise.all([compactPullStats(store, now), compactPullStats(store, now)]);
    expect(await compactPullStats(store, now)).toEqual([]);
    expect(await readPullStats(store)).toEqual(before);
    const left: string[] = [];
    for await (const o of store.list(`${PULLS_PREFIX}2026-11-01/`)) left.push(o.key);
    expect(left).toEqual([`${PULLS_PREFIX}2026-11-01/compact.json`]);
    expect(await readPullStats(store, { repository: "acme/app", since: "2026-11-02" })).toEqual([
      { day: "2026-11-05", repository: "acme/app", tag: "1.0", pulls: 1 },
    ]);
  });

  it("keeps the counts of a failed flush for the next one", async () => {
    const store = await tempStore();
    let fail = true;
    const flaky: BlobStore = Object.create(store, {
      put: {
        value: (...args: Parameters<BlobStore["put"]>) =>
          fail ? Promise.reject(new Error("down")) : store.put(...args),
      },
    }) as BlobStore;
    const counter = new PullCounter(flaky, "a");
    counter.count("acme/app", "1.0");
    await expect(counter.flush()).rejects.toThrow("down");
    counter.count("acme/app", "1.0");
    fail = false;
    await counter.flush();
    expect((await readPullStats(store)).map((s) => s.pulls)).toEqual([2]);
  });
});
