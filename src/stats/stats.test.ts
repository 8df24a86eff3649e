import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LocalStore } from "../storage/local.js";
import type { BlobStore } from "../storage/types.js";
import { compactPullStats, PullStatsReader, readPullStats } from "./aggregate.js";
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

/** A store that counts its listings and reads. */
function counting(store: BlobStore) {
  const calls = { list: 0, get: 0 };
  const wrapped: BlobStore = Object.create(store, {
    list: {
      value: (prefix: string) => {
        calls.list++;
        return store.list(prefix);
      },
    },
    getBuffer: {
      value: (key: string) => {
        calls.get++;
        return store.getBuffer(key);
      },
    },
  }) as BlobStore;
  return { store: wrapped, calls };
}

describe("reading pull statistics", () => {
  it("counts only well-formed rows, whatever the tag is called", async () => {
    const store = await tempStore();
    const rows = [
      ["2026-11-01", "acme/app", "__proto__", 2],
      ["2026-11-01", "acme/app", "constructor", 1],
      ["2026-11-01", "acme/app", "1.0", "5"], // a count as text would be concatenated
      ["2026-11-01", "acme/app", "1.0", -3],
      ["2026-11-01", "acme/app", "1.0", 1.5],
      ["2026-11-01", "acme/app"],
      ["yesterday", "acme/app", "1.0", 1],
      null,
      ["2026-11-01", "acme/app", "1.0", 4],
    ];
    await store.put(
      `${PULLS_PREFIX}2026-11-01/0000000000001-x-0.json`,
      Buffer.from(JSON.stringify({ version: 1, counts: rows })),
    );
    await store.put(
      `${PULLS_PREFIX}2026-11-01/0000000000002-x-1.json`,
      Buffer.from(JSON.stringify({ version: 1, counts: [["2026-11-01", "acme/app", "__proto__", 3]] })),
    );
    const expected = [
      { day: "2026-11-01", repository: "acme/app", tag: "1.0", pulls: 4 },
      { day: "2026-11-01", repository: "acme/app", tag: "__proto__", pulls: 5 },
      { day: "2026-11-01", repository: "acme/app", tag: "constructor", pulls: 1 },
    ];
    expect(await readPullStats(store)).toEqual(expected);
    expect(await compactPullStats(store, new Date("2026-11-05T00:00:00Z"))).toEqual(["2026-11-01"]);
    expect(await readPullStats(store)).toEqual(expected);
  });

  it("lists once and reads each object once, however many objects a day holds", async () => {
    const base = await tempStore();
    const n = 1000;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        base.put(
          `${PULLS_PREFIX}2026-11-01/${String(i).padStart(13, "0")}-a-${i}.json`,
          Buffer.from(JSON.stringify({ version: 1, counts: [["2026-11-01", `acme/r${i % 7}`, "1.0", 1]] })),
        ),
      ),
    );
    const { store, calls } = counting(base);
    const reader = new PullStatsReader(store);
    const first = await reader.read();
    expect(first.reduce((t, r) => t + r.pulls, 0)).toBe(n);
    expect(first).toHaveLength(7);
    expect(calls).toEqual({ list: 1, get: n });
    // Read again with one object more: one more listing, one more read.
    await base.put(
      `${PULLS_PREFIX}2026-11-01/9999999999999-a-x.json`,
      Buffer.from(JSON.stringify({ version: 1, counts: [["2026-11-01", "acme/r0", "1.0", 10]] })),
    );
    const second = await reader.read({ repository: "acme/r0" });
    expect(second).toEqual([
      { day: "2026-11-01", repository: "acme/r0", tag: "1.0", pulls: Math.ceil(n / 7) + 10 },
    ]);
    expect(calls).toEqual({ list: 2, get: n + 1 });
  });

  it("reads a folder compacted while it is being read once more, from its compact object", async () => {
    const base = await tempStore();
    let now = new Date("2026-11-01T10:00:00Z");
    const counter = new PullCounter(base, "a", () => now.getTime());
    for (let i = 0; i < 5; i++) {
      counter.count("acme/app", "1.0");
      await counter.flush();
      now = new Date(now.getTime() + 1000);
    }
    let compacted = false;
    const racing: BlobStore = Object.create(base, {
      getBuffer: {
        value: async (key: string) => {
          if (!compacted) {
            compacted = true;
            await compactPullStats(base, new Date("2026-11-05T00:00:00Z"));
          }
          return base.getBuffer(key);
        },
      },
    }) as BlobStore;
    expect(await readPullStats(racing)).toEqual([
      { day: "2026-11-01", repository: "acme/app", tag: "1.0", pulls: 5 },
    ]);
  });
});
