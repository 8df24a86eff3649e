import { createServer, type Server } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LocalStore } from "../storage/local.js";
import type { EndpointConfig } from "./config.js";
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
  let requests = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests++;
      if (requests <= failFirst) return void res.writeHead(500).end();
      received.push(...(JSON.parse(Buffer.concat(chunks).toString()) as { events: RegistryEvent[] }).events);
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise((r) => server.close(() => r())));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    received,
    requests: () => requests,
  };
}

const endpoint = (url: string, more: Partial<EndpointConfig> = {}): EndpointConfig => ({
  name: "c",
  url,
  headers: {},
  timeoutMs: 2000,
  threshold: 2,
  backoffMs: 200,
  ignoredActions: [],
  ignoredMediaTypes: [],
  maxBacklog: 1000,
  pullEvents: "window",
  pullWindowMs: 1000,
  ...more,
});

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
