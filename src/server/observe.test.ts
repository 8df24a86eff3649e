import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { BlobStore } from "../storage/types.js";
import { loadServerConfig } from "./config.js";
import { countsAsPull, createObserver } from "./observe.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe("pull observer", () => {
  it("answers a pull whose event the store refuses, and counts the event as unstored", async () => {
    const dir = await mkdtemp(join(tmpdir(), "raas-observe-"));
    dirs.push(dir);
    const file = join(dir, "registry.conf");
    await writeFile(
      file,
      "[stats]\nenable = false\n[events.c]\nurl = http://127.0.0.1:9/\npull_events = request\n",
    );
    const config = await loadServerConfig(file, {});
    const refusing = {
      description: "refusing store",
      put: () => Promise.reject(new Error("AccessDenied")),
      getBuffer: () => Promise.reject(new Error("AccessDenied")),
      list: async function* () {},
      delete: () => Promise.resolve(),
    } as unknown as BlobStore;
    const logged: string[] = [];
    const observer = createObserver(config, refusing, {}, (m) => logged.push(m));
    const req = {
      socket: { remoteAddress: "127.0.0.1" },
      headers: {},
      method: "GET",
    } as unknown as IncomingMessage;
    const pull = {
      req,
      repository: "acme/app",
      reference: "1.0",
      digest: "sha256:0",
      mediaType: "x",
      size: 1,
    };
    await expect(observer.pulled(pull)).resolves.toBeUndefined();
    expect(observer.gauges()).toContainEqual(["raas_events_unstored_total", 1]);
    expect(logged.some((m) => m.includes("cannot store events"))).toBe(true);
    await observer.close();

    // Per window (the default): the pull does not wait; at shutdown, what cannot be stored is counted.
    await writeFile(
      file,
      "[stats]\nenable = false\n[events.c]\nurl = http://127.0.0.1:9/\npull_window = 60s\n",
    );
    const windowed = createObserver(await loadServerConfig(file, {}), refusing, {}, (m) => logged.push(m));
    expect(windowed.pulled(pull)).toBeUndefined();
    expect(windowed.pulled(pull)).toBeUndefined();
    expect(windowed.gauges()).toContainEqual(["raas_events_pending_pulls", 2]);
    expect(windowed.gauges()).toContainEqual(["raas_events_unstored_total", 0]);
    await windowed.close();
    expect(windowed.gauges()).toContainEqual(["raas_events_unstored_total", 2]);
  });

  it("keeps every pull's event across window writes, pulls during a slow write going to the next window", async () => {
    const dir = await mkdtemp(join(tmpdir(), "raas-observe-"));
    dirs.push(dir);
    const file = join(dir, "registry.conf");
    await writeFile(
      file,
      "[stats]\nenable = false\n[events.c]\nurl = http://127.0.0.1:9/\npull_window = 20ms\n",
    );
    const stored: { tag?: string }[][] = [];
    let puts = 0;
    const slow = {
      description: "slow store",
      put: async (key: string, bytes: Buffer) => {
        if (!key.startsWith(".raas/events/outbox/")) return;
        // The first write fails, every write takes 50 ms: pulls keep arriving meanwhile.
        await new Promise((r) => setTimeout(r, 50));
        if (puts++ === 0) throw new Error("SlowDown");
        stored.push(
          (JSON.parse(bytes.toString()) as { events: { target: { tag?: string } }[] }).events.map(
            (e) => e.target,
          ),
        );
      },
      getBuffer: () => Promise.reject(new Error("not here")),
      list: async function* () {},
      delete: () => Promise.resolve(),
    } as unknown as BlobStore;
    const observer = createObserver(await loadServerConfig(file, {}), slow, {}, () => undefined);
    const req = {
      socket: { remoteAddress: "127.0.0.1" },
      headers: {},
      method: "GET",
    } as unknown as IncomingMessage;
    const pull = (i: number) =>
      observer.pulled({
        req,
        repository: "acme/app",
        reference: `t${i}`,
        digest: "sha256:0",
        mediaType: "x",
        size: 1,
      });
    // 40 pulls over about 200 ms: before, during and after window writes (one refused).
    for (let i = 0; i < 40; i++) {
      expect(pull(i)).toBeUndefined();
      await new Promise((r) => setTimeout(r, 5));
    }
    await observer.close();
    const tags = stored.flat().map((t) => t.tag);
    expect(puts).toBeGreaterThanOrEqual(3);
    expect(tags).toEqual(Array.from({ length: 40 }, (_, i) => `t${i}`));
    expect(observer.gauges()).toContainEqual(["raas_events_unstored_total", 0]);
  });

  it("does not count signature tags or index children", () => {
    expect(countsAsPull("1.0", false)).toBe(true);
    expect(countsAsPull(`sha256-${"a".repeat(64)}.sig`, false)).toBe(false);
    expect(countsAsPull(`sha256:${"a".repeat(64)}`, true)).toBe(false);
  });
});
