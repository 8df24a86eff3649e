import { createServer, type Server } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LocalStore } from "../storage/local.js";
import type { EndpointConfig } from "./config.js";
import { testEndpoint as endpoint } from "./testing/endpoint.js";
import { Dispatcher, readBacklog } from "./deliver.js";
import { makeEvent, type RegistryEvent } from "./envelope.js";
import { OUTBOX_PREFIX, Outbox } from "./outbox.js";
import { promoteEvent, recordPromotion } from "./push-events.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function tempStore(): Promise<LocalStore> {
  const dir = await mkdtemp(join(tmpdir(), "raas-events-unit-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return new LocalStore(dir);
}

/** An endpoint that fails the first `failFirst` requests with 500. */
async function collector(failFirst = 0) {
  const received: RegistryEvent[] = [];
  const bodies: string[] = [];
  let requests = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests++;
      if (requests <= failFirst) return void res.writeHead(500).end();
      bodies.push(Buffer.concat(chunks).toString());
      received.push(...(JSON.parse(Buffer.concat(chunks).toString()) as { events: RegistryEvent[] }).events);
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise((r) => server.close(() => r())));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    received,
    bodies,
    requests: () => requests,
  };
}

const event = (action: RegistryEvent["action"], tag: string) =>
  makeEvent({
    action,
    target: {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      size: 10,
      digest: `sha256:${"a".repeat(64)}`,
      repository: "acme/app",
      url: "/x",
      tag,
    },
    source: { addr: "", instanceID: "test" },
  });

async function keys(store: LocalStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

describe("event delivery", () => {
  it("retries a failing endpoint, backs off after the threshold, skips ignored actions, then empties the outbox", async () => {
    const store = await tempStore();
    const c = await collector(2);
    const outbox = new Outbox(store, "p1");
    const events = [event("push", "1"), event("pull", "1"), event("delete", "1")];
    await Promise.all(events.map((e) => outbox.record(e)));
    const d = new Dispatcher({
      store,
      endpoints: [endpoint(c.url, { ignoredActions: ["delete"] })],
      owner: "a",
      settleMs: 5,
    });
    await d.pass();
    await d.pass(); // second failure in a row: the threshold; the endpoint backs off
    expect(c.requests()).toBe(2);
    await d.pass();
    expect(c.requests()).toBe(2); // still backing off
    expect(d.snapshot()[0]).toMatchObject({ failures: 2, lastError: "HTTP 500" });
    await new Promise((r) => setTimeout(r, 250));
    for (let i = 0; i < 3; i++) await d.pass();
    expect(c.received.map((e) => e.id).sort()).toEqual(
      events
        .filter((e) => e.action !== "delete")
        .map((e) => e.id)
        .sort(),
    );
    expect(await keys(store, ".raas/events/")).toEqual([
      ".raas/events/lease.json",
      ".raas/events/state/c.json",
    ]);
    await d.stop();
    expect(await keys(store, ".raas/events/lease.json")).toEqual([]);
  });

  it("lets one of two processes deliver: every event once, under its id", async () => {
    const store = await tempStore();
    const c = await collector();
    const outboxes = [new Outbox(store, "p1"), new Outbox(store, "p2")];
    const sent: string[] = [];
    const a = new Dispatcher({ store, endpoints: [endpoint(c.url)], owner: "a", settleMs: 20 });
    const b = new Dispatcher({ store, endpoints: [endpoint(c.url)], owner: "b", settleMs: 20 });
    for (let round = 0; round < 10; round++) {
      const batch = Array.from({ length: 5 }, (_, i) => event("pull", `${round}-${i}`));
      sent.push(...batch.map((e) => e.id));
      await Promise.all([...batch.map((e, i) => outboxes[i % 2]?.record(e)), a.pass(), b.pass()]);
    }
    await Promise.all([a.pass(), b.pass()]);
    await Promise.all([a.pass(), b.pass()]);
    expect(c.received.map((e) => e.id).sort()).toEqual([...sent].sort());
    expect(await keys(store, OUTBOX_PREFIX)).toEqual([]);
  });

  /** A store that notes every outbox batch read back from it. */
  async function countingStore(): Promise<{ store: LocalStore; counted: LocalStore; reads: string[] }> {
    const store = await tempStore();
    const reads: string[] = [];
    const counted = Object.create(store) as LocalStore;
    counted.getBuffer = (key: string) => {
      if (key.startsWith(OUTBOX_PREFIX)) reads.push(key);
      return store.getBuffer(key);
    };
    return { store, counted, reads };
  }

  /** A dispatcher and the outbox of its own process, which keeps its batches while it delivers. */
  function deliveringProcess(store: LocalStore, endpoints: EndpointConfig[]) {
    const running: { d?: Dispatcher } = {};
    const own = new Outbox(store, "p1", undefined, { keep: () => running.d?.delivering() ?? false });
    const d = new Dispatcher({ store, endpoints, owner: "a", settleMs: 5, kept: own });
    running.d = d;
    return { d, own };
  }

  it("sends the batches the delivering process wrote as stored, without reading them back", async () => {
    const { store, counted, reads } = await countingStore();
    const c = await collector();
    const { d, own } = deliveringProcess(counted, [endpoint(c.url)]);
    await d.pass(); // takes the lease: from now on this process delivers
    expect(d.delivering()).toBe(true);
    const other = new Outbox(counted, "p2"); // another worker: its batch is read from storage
    const first = [event("push", "1"), event("pull", "1")];
    const second = [event("pull", "2"), event("delete", "2")];
    const foreign = event("pull", "3");
    for (const e of first) own.defer(e, 60_000, () => undefined);
    await own.flush();
    for (const e of second) own.defer(e, 60_000, () => undefined);
    await own.flush();
    await other.record(foreign);
    const ownKeys = (await keys(store, OUTBOX_PREFIX)).filter((k) => k.includes("-p1-"));
    expect(ownKeys).toHaveLength(2);
    expect(ownKeys.map((k) => own.storedBatch(k)?.count)).toEqual([2, 2]);
    await d.pass();
    // Only the other worker's batch was read; every event arrived once, in the order stored.
    expect(reads).toHaveLength(1);
    expect(reads[0]).toContain("-p2-");
    expect(c.requests()).toBe(1);
    expect(c.received.map((e) => e.id)).toEqual([...first, ...second, foreign].map((e) => e.id));
    // The body is the text JSON.stringify gives for those events: stored bytes spliced together.
    expect(c.bodies[0]).toBe(JSON.stringify({ events: c.received }));
    expect(c.received).toEqual(JSON.parse(JSON.stringify([...first, ...second, foreign])));
    // Delivered everywhere and deleted: no longer kept.
    expect(await keys(store, OUTBOX_PREFIX)).toEqual([]);
    expect(ownKeys.map((k) => own.storedBatch(k))).toEqual([undefined, undefined]);
    await d.stop();
  });

  it("filters a kept batch for an endpoint that ignores some of its events, and sends the others as stored", async () => {
    const { store, counted, reads } = await countingStore();
    const c = await collector();
    const { d, own } = deliveringProcess(counted, [endpoint(c.url, { ignoredActions: ["delete"] })]);
    await d.pass();
    const withDelete = [event("pull", "1"), event("delete", "1")];
    const pulls = [event("pull", "2"), event("pull", "3")];
    for (const e of withDelete) own.defer(e, 60_000, () => undefined);
    await own.flush();
    for (const e of pulls) own.defer(e, 60_000, () => undefined);
    await own.flush();
    const [mixed, allPulls] = await keys(store, OUTBOX_PREFIX);
    await d.pass();
    // The batch holding a delete was read back and filtered; the other one was sent as stored.
    expect(reads).toEqual([mixed]);
    expect(reads).not.toContain(allPulls);
    expect(c.received.map((e) => e.id)).toEqual([withDelete[0], ...pulls].map((e) => e?.id));
    expect(c.bodies[0]).toBe(JSON.stringify({ events: c.received }));
    await d.stop();
  });

  it("delivers a window's batches as soon as they are stored, not at the next poll", async () => {
    const store = await tempStore();
    const c = await collector();
    const running: { d?: Dispatcher } = {};
    const own = new Outbox(store, "p1", undefined, {
      keep: () => running.d?.delivering() ?? false,
      stored: () => running.d?.wake(),
    });
    // A poll a minute apart: only a wake-up can deliver within the test.
    const d = new Dispatcher({
      store,
      endpoints: [endpoint(c.url)],
      owner: "a",
      settleMs: 5,
      pollMs: 60_000,
      kept: own,
    });
    running.d = d;
    d.start();
    for (let i = 0; i < 100 && !d.delivering(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(d.delivering()).toBe(true);
    const pulls = Array.from({ length: 3 }, (_, i) => event("pull", String(i)));
    const started = Date.now();
    for (const e of pulls) own.defer(e, 50, () => undefined);
    while (c.received.length < 3 && Date.now() - started < 5_000) await new Promise((r) => setTimeout(r, 20));
    expect(c.received.map((e) => e.id)).toEqual(pulls.map((e) => e.id));
    expect(Date.now() - started).toBeLessThan(5_000);
    // A push event recorded now (not deferred) goes out at once too.
    const push = event("push", "1");
    await own.record(push);
    while (c.received.length < 4 && Date.now() - started < 10_000) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(c.received.at(-1)?.id).toBe(push.id);
    await d.stop();
  });

  it("keeps no batch when the process does not deliver, and at most 16 MiB when it does", async () => {
    const store = await tempStore();
    const quiet = new Outbox(store, "p1", undefined, { keep: () => false });
    await quiet.record(event("pull", "1"));
    const [key] = await keys(store, OUTBOX_PREFIX);
    expect(quiet.storedBatch(key ?? "")).toBeUndefined();
    // Batches of 500 events of about 40 KiB each: 16 MiB holds some, never all.
    const keeping = new Outbox(store, "p2", undefined, { keep: () => true });
    const big = (i: number) => {
      const e = event("pull", String(i));
      return { ...e, request: { ...e.request, useragent: "u".repeat(40 * 1024) } };
    };
    for (let i = 0; i < 600; i++) keeping.defer(big(i), 60_000, () => undefined);
    await keeping.flush();
    const own = (await keys(store, OUTBOX_PREFIX)).filter((k) => k.includes("-p2-"));
    expect(own.length).toBe(2);
    const kept = own.filter((k) => keeping.storedBatch(k) !== undefined);
    // 500 x 40 KiB is over the bound: the first batch is dropped when the second is kept.
    expect(kept).toEqual([own[1]]);
  });

  it("keeps at most max_backlog batches for a down endpoint, counts the dropped ones, and status sees the backlog", async () => {
    const store = await tempStore();
    const outbox = new Outbox(store, "p1");
    for (let i = 0; i < 5; i++) await outbox.record(event("pull", String(i)));
    const d = new Dispatcher({
      store,
      endpoints: [endpoint("http://127.0.0.1:9/", { maxBacklog: 3, threshold: 1, timeoutMs: 500 })],
      owner: "a",
      settleMs: 5,
    });
    await d.pass();
    expect(d.snapshot()[0]).toMatchObject({ backlog: 3, dropped: 2, failures: 1 });
    const [backlog] = await readBacklog(store, ["c"]);
    expect(backlog).toMatchObject({ endpoint: "c", backlog: 3 });
    expect(backlog?.lastError).toBeDefined();
  });

  it("stores a batch before record() resolves, and groups events queued during a write", async () => {
    const store = await tempStore();
    const outbox = new Outbox(store, "p1");
    const events = Array.from({ length: 50 }, (_, i) => event("pull", String(i)));
    await Promise.all(events.map((e) => outbox.record(e)));
    const objects = await keys(store, OUTBOX_PREFIX);
    // Four writes start at once (one event each); the 46 queued meanwhile go in one more.
    expect(objects.length).toBeLessThanOrEqual(5);
    expect(outbox.stored).toBe(50);
  });

  it("defers pull events to one write per window, writes what is pending on flush, and keeps failed ones", async () => {
    const store = await tempStore();
    const outbox = new Outbox(store, "p1");
    const lost: number[] = [];
    const events = Array.from({ length: 30 }, (_, i) => event("pull", String(i)));
    for (const e of events.slice(0, 20)) outbox.defer(e, 200, (n) => lost.push(n));
    // Nothing is written before the window ends; the pulls did not wait for storage.
    expect(await keys(store, OUTBOX_PREFIX)).toEqual([]);
    expect(outbox.pendingDeferred).toBe(20);
    for (let i = 0; i < 50 && outbox.stored < 20; i++) await new Promise((r) => setTimeout(r, 50));
    expect(outbox.stored).toBe(20);
    expect(await keys(store, OUTBOX_PREFIX)).toHaveLength(1);
    // Shutdown: what waits for its window is written by flush().
    for (const e of events.slice(20)) outbox.defer(e, 60_000, (n) => lost.push(n));
    await outbox.flush();
    expect(outbox.stored).toBe(30);
    const stored: string[] = [];
    for (const key of await keys(store, OUTBOX_PREFIX)) {
      stored.push(
        ...(JSON.parse((await store.getBuffer(key)).toString()) as { events: RegistryEvent[] }).events.map(
          (e) => e.id,
        ),
      );
    }
    expect(stored.sort()).toEqual(events.map((e) => e.id).sort());
    expect(lost).toEqual([]);

    // A store that refuses: the events wait for the next window, beyond the limit they are counted lost.
    const failing = Object.create(store) as LocalStore;
    let refuse = true;
    failing.put = (...args: Parameters<LocalStore["put"]>) =>
      refuse ? Promise.reject(new Error("storage down")) : store.put(...args);
    const flaky = new Outbox(failing, "p2");
    for (let i = 0; i < 5; i++) flaky.defer(event("pull", `f${i}`), 20, (n) => lost.push(n), 3);
    for (let i = 0; i < 50 && lost.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(lost[0]).toBe(2);
    expect(flaky.pendingDeferred).toBe(3);
    refuse = false;
    for (let i = 0; i < 50 && flaky.stored < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(flaky.stored).toBe(3);
    expect(flaky.pendingDeferred).toBe(0);
  });

  it("records a promote event through the outbox with the environments in x-raas, delivered to a collector", async () => {
    const store = await tempStore();
    const c = await collector();
    const digest = `sha256:${"b".repeat(64)}`;
    const recorded = await recordPromotion(store, {
      repository: "acme/app",
      tag: "1.0",
      digest,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      size: 528,
      from: "staging",
      to: "production",
      registryUrl: "https://registry.example.com",
      actor: "alice",
    });
    const d = new Dispatcher({ store, endpoints: [endpoint(c.url)], owner: "a", settleMs: 5 });
    await d.pass();
    expect(c.received).toHaveLength(1);
    const [got] = c.received;
    expect(got?.id).toBe(recorded.id);
    expect(got).toMatchObject({
      action: "promote",
      target: {
        repository: "acme/app",
        tag: "1.0",
        digest,
        size: 528,
        length: 528,
        url: `https://registry.example.com/v2/acme/app/manifests/${digest}`,
      },
      actor: { name: "alice" },
      source: { addr: "registry.example.com", instanceID: "raas-cli" },
      "x-raas": { promotion: { from: "staging", to: "production" } },
    });
    // Bad input is refused before anything is stored.
    const bad = { ...recorded.target, digest: "sha256:short", from: "Staging!", to: "Staging!" };
    expect(() =>
      promoteEvent({
        repository: "acme/App",
        digest: bad.digest,
        mediaType: "x",
        size: 1,
        from: bad.from,
        to: bad.to,
        registryUrl: "https://r.example.com",
      }),
    ).toThrow(
      /"acme\/App" is not a repository name.*"sha256:short" is not a sha256 digest.*from environment "Staging!"/,
    );
    await d.stop();
  });
});
