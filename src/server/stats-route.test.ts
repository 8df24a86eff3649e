import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PullCounter } from "../stats/counters.js";
import { LocalStore } from "../storage/local.js";
import type { BlobStore } from "../storage/types.js";
import { cachedPullStats, statsBody } from "./stats-route.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe("/raas/stats answers", () => {
  it("share one read of storage across repositories and dates, and reads again after a few seconds", async () => {
    const dir = await mkdtemp(join(tmpdir(), "raas-stats-route-"));
    dirs.push(dir);
    const base = new LocalStore(dir);
    let t = Date.parse("2026-11-03T10:00:00Z");
    const counter = new PullCounter(base, "a", () => t);
    counter.count("acme/app", "1.0");
    counter.count("acme/app", "1.0");
    counter.count("acme/web", "2.0");
    await counter.flush();
    t = Date.parse("2026-11-04T10:00:00Z");
    counter.count("acme/app", "1.0");
    await counter.flush();
    let lists = 0;
    const store: BlobStore = Object.create(base, {
      list: {
        value: (prefix: string) => {
          lists++;
          return base.list(prefix);
        },
      },
    }) as BlobStore;
    const now = Date.parse("2026-11-04T12:00:00Z");
    // Many names and dates at once, as a client varying them would ask: one listing.
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        cachedPullStats(
          store,
          i % 2 === 0 ? "acme/app" : `acme/r${i}`,
          `2026-10-${String((i % 28) + 1).padStart(2, "0")}`,
          now,
        ),
      ),
    );
    expect(lists).toBe(1);
    expect(answers[0]).toEqual([
      { day: "2026-11-03", repository: "acme/app", tag: "1.0", pulls: 2 },
      { day: "2026-11-04", repository: "acme/app", tag: "1.0", pulls: 1 },
    ]);
    expect(answers[1]).toEqual([]);
    expect(await cachedPullStats(store, "acme/app", "2026-11-04", now + 4000)).toEqual([
      { day: "2026-11-04", repository: "acme/app", tag: "1.0", pulls: 1 },
    ]);
    expect(lists).toBe(1);
    counter.count("acme/app", "1.0");
    await counter.flush();
    expect(await cachedPullStats(store, "acme/app", "2026-11-04", now + 6000)).toEqual([
      { day: "2026-11-04", repository: "acme/app", tag: "1.0", pulls: 2 },
    ]);
    expect(lists).toBe(2);
  });

  it("keep tags named like Object's own properties", () => {
    const body = statsBody("acme/app", undefined, [
      { day: "2026-11-01", repository: "acme/app", tag: "__proto__", pulls: 2 },
      { day: "2026-11-02", repository: "acme/app", tag: "__proto__", pulls: 3 },
      { day: "2026-11-02", repository: "acme/app", tag: "toString", pulls: 1 },
    ]);
    expect(JSON.parse(JSON.stringify(body))).toEqual({
      repository: "acme/app",
      total: 6,
      tags: JSON.parse('{"__proto__":5,"toString":1}'),
      days: [
        { day: "2026-11-01", tag: "__proto__", pulls: 2 },
        { day: "2026-11-02", tag: "__proto__", pulls: 3 },
        { day: "2026-11-02", tag: "toString", pulls: 1 },
      ],
    });
  });
});
