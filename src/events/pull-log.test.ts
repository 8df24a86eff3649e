import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LocalStore } from "../storage/local.js";
import { makeEvent, type RegistryEvent } from "./envelope.js";
import { HOST_MAX, USERAGENT_MAX } from "./envelope.js";
import { OUTBOX_PREFIX, Outbox, WINDOW_MAX_EVENTS } from "./outbox.js";
import { PullLog, pullEvent, type PullFields } from "./pull-log.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** The events stored under the outbox, in the order written (by time, then sequence number). */
async function storedBatches(store: LocalStore): Promise<RegistryEvent[][]> {
  const keys: string[] = [];
  for await (const o of store.list(OUTBOX_PREFIX)) keys.push(o.key);
  const order = (key: string) => {
    const name = key.slice(OUTBOX_PREFIX.length, -".json".length);
    return [Number(name.slice(0, 13)), Number(name.slice(name.lastIndexOf("-") + 1))] as const;
  };
  keys.sort((a, b) => order(a)[0] - order(b)[0] || order(a)[1] - order(b)[1]);
  return Promise.all(
    keys.map(
      async (k) => (JSON.parse((await store.getBuffer(k)).toString()) as { events: RegistryEvent[] }).events,
    ),
  );
}

async function tempStore(): Promise<LocalStore> {
  const dir = await mkdtemp(join(tmpdir(), "raas-pull-log-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return new LocalStore(dir);
}

const SOURCE = { addr: "http://reg", instanceID: "w1" };
const DIGEST = `sha256:${"a".repeat(64)}`;
/** Texts a map or object keyed by them would mishandle, repeated and alternating. */
const TEXTS = ["__proto__", "constructor", "", "toString", "acme/app", "é 🐳", "hasOwnProperty"];

function pull(i: number): PullFields {
  const text = TEXTS[i % TEXTS.length] ?? "";
  return {
    at: Date.UTC(2026, 11, 1) + Math.floor(i / 3),
    repository: i % 5 === 0 ? "acme/app" : `acme/${text}`,
    reference: i % 4 === 0 ? DIGEST : `v${i % 7}`,
    digest: DIGEST,
    mediaType: i % 2 === 0 ? "application/vnd.oci.image.manifest.v1+json" : text,
    size: 1000 + (i % 11),
    addr: `10.0.0.${i % 3}`,
    host: text,
    method: "GET",
    // Longer than makeEvent keeps, every ninth pull.
    useragent: i % 9 === 0 ? `${text}${"u".repeat(20_000)}` : `client/${i % 2}`,
  };
}

/** An event with its ids blanked, to compare two events made from the same fields. */
function withoutIds(e: RegistryEvent | undefined): unknown {
  if (e === undefined) return undefined;
  return { ...e, id: "", request: { ...e.request, id: "" } };
}

describe("PullLog", () => {
  it("makes, in order, the event each pull would have had on its own, whatever its texts", () => {
    const log = new PullLog(SOURCE);
    const pulls = Array.from({ length: 3_000 }, (_, i) => pull(i)); // past the first capacity
    for (const p of pulls) log.add(p);
    expect(log.count).toBe(3_000);
    expect(log.closed).toBe(false);
    const made = [...log.take(500), ...log.take(2_000), ...log.take(10_000)];
    expect(log.count).toBe(0);
    expect(made).toHaveLength(3_000);
    made.forEach((e, i) =>
      expect(withoutIds(e)).toEqual(withoutIds(pullEvent(pulls[i] as PullFields, SOURCE))),
    );
    expect(new Set(made.map((e) => e.id)).size).toBe(3_000);
    // The same as makeEvent's own view of such a pull: the URL by digest, the tag only when pulled by tag.
    const first = pulls[1] as PullFields;
    expect(withoutIds(made[1])).toEqual(
      withoutIds(
        makeEvent({
          action: "pull",
          target: {
            mediaType: first.mediaType,
            size: first.size,
            digest: DIGEST,
            repository: first.repository,
            url: `/v2/${first.repository}/manifests/${DIGEST}`,
            tag: first.reference,
          },
          request: { addr: first.addr, host: first.host, method: "GET", useragent: first.useragent },
          source: SOURCE,
          now: first.at,
        }),
      ),
    );
    expect(made[0]?.target.tag).toBeUndefined();
    expect(made[9]?.request.useragent).toHaveLength(256);
  });

  it("is closed once taken from or dropped from: no pull is added to a log being written", () => {
    const log = new PullLog(SOURCE);
    for (let i = 0; i < 10; i++) log.add(pull(i));
    log.drop(3);
    expect(log.closed).toBe(true);
    expect(log.count).toBe(7);
    expect(() => log.add(pull(10))).toThrow(/pull log is closed/);
    expect(log.take(2).map((e) => e.request.addr)).toEqual(["10.0.0.0", "10.0.0.1"]); // pulls 3 and 4
    log.drop(100);
    expect(log.count).toBe(0);
    expect(log.take(5)).toEqual([]);
  });
});

describe("the outbox with a PullLog", () => {
  it("writes a window of pulls in batches of at most 500, in order, and counts them as pending", async () => {
    const store = await tempStore();
    const outbox = new Outbox(store, "p1");
    const log = new PullLog(SOURCE);
    for (let i = 0; i < 1_234; i++) log.add(pull(i));
    outbox.defer(log, 60_000, () => undefined);
    outbox.defer(log, 60_000, () => undefined); // the same log again adds nothing
    const push = makeEvent({
      action: "push",
      target: { mediaType: "m", size: 1, digest: DIGEST, repository: "acme/app", url: "/u" },
      source: SOURCE,
    });
    outbox.defer(push, 60_000, () => undefined);
    expect(outbox.pendingDeferred).toBe(1_235);
    await outbox.flush();
    expect(outbox.pendingDeferred).toBe(0);
    const batches = await storedBatches(store);
    expect(batches.map((b) => b.length)).toEqual([500, 500, 235]);
    const events = batches.flat();
    expect(events.slice(0, 1_234).map((e) => e.target.size)).toEqual(
      Array.from({ length: 1_234 }, (_, i) => 1000 + (i % 11)),
    );
    expect(events[1_234]?.id).toBe(push.id);
  });

  it("keeps what a refused write did not store for the next window, drops the oldest beyond the limit, and stores the rest once storage is back", async () => {
    const store = await tempStore();
    const failing = Object.create(store) as LocalStore;
    let refuse = true;
    /** The ids of every batch the store refused, as sent. */
    const refused: string[][] = [];
    failing.put = (...args: Parameters<LocalStore["put"]>) => {
      if (!refuse) return store.put(...args);
      const sent = JSON.parse(Buffer.from(args[1] as Buffer).toString()) as { events: RegistryEvent[] };
      refused.push(sent.events.map((e) => e.id));
      return Promise.reject(new Error("storage down"));
    };
    const outbox = new Outbox(failing, "p1");
    const lost: number[] = [];
    const log = new PullLog(SOURCE);
    for (let i = 0; i < 700; i++) log.add(pull(i));
    outbox.defer(log, 20, (n) => lost.push(n), 600);
    for (let i = 0; i < 100 && lost.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    // The first batch (500, made: their ids are kept) failed; 100 over the limit were the oldest.
    expect(lost[0]).toBe(100);
    expect(outbox.pendingDeferred).toBe(600);
    // Pulls after the log was taken from go to a new log, as the registry does.
    expect(log.closed).toBe(true);
    const next = new PullLog(SOURCE);
    for (let i = 700; i < 710; i++) next.add(pull(i));
    outbox.defer(next, 20, (n) => lost.push(n), 600);
    refuse = false;
    for (let i = 0; i < 100 && outbox.stored < 600; i++) await new Promise((r) => setTimeout(r, 20));
    await outbox.flush();
    const events = (await storedBatches(store)).flat();
    // Kept: every pull from the oldest not dropped on, in order (pulls 100..709 unless a later
    // refused window dropped more of the oldest), each exactly once.
    const dropped = lost.reduce((a, b) => a + b, 0);
    expect(events.length + dropped).toBe(710);
    expect(outbox.stored).toBe(events.length);
    expect(events.map((e) => e.target.size)).toEqual(
      Array.from({ length: 710 - dropped }, (_, i) => 1000 + ((dropped + i) % 11)),
    );
    expect(events.map((e) => e.request.addr)).toEqual(
      Array.from({ length: 710 - dropped }, (_, i) => `10.0.0.${(dropped + i) % 3}`),
    );
    // The events made for the first refused write kept their ids: the same ones were stored.
    expect(refused[0]).toHaveLength(500);
    expect(events.slice(0, 500 - dropped).map((e) => e.id)).toEqual(refused[0]?.slice(dropped));
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it("writes a window at once when it holds WINDOW_MAX_EVENTS, without waiting for its time", async () => {
    const store = await tempStore();
    const outbox = new Outbox(store, "p1");
    const log = new PullLog(SOURCE);
    log.add(pull(0));
    // A window of a minute: only its size can start the write within this test.
    outbox.defer(log, 60_000, () => undefined);
    let current = log;
    for (let i = 1; i < WINDOW_MAX_EVENTS + 1_000; i++) {
      if (current.closed) {
        current = new PullLog(SOURCE);
        outbox.defer(current, 60_000, () => undefined);
      }
      current.add(pull(i));
      if ((current.count & 1023) === 0) outbox.grew(60_000, () => undefined);
    }
    for (let i = 0; i < 250 && outbox.stored < WINDOW_MAX_EVENTS; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // The first full window was written (in 500-event batches) long before its minute.
    expect(outbox.stored).toBeGreaterThanOrEqual(WINDOW_MAX_EVENTS);
    expect(outbox.stored).toBeLessThan(WINDOW_MAX_EVENTS + 1_000);
    await outbox.flush();
    const events = (await storedBatches(store)).flat();
    expect(events).toHaveLength(WINDOW_MAX_EVENTS + 1_000);
    expect(events.map((e) => e.target.size)).toEqual(
      Array.from({ length: WINDOW_MAX_EVENTS + 1_000 }, (_, i) => 1000 + (i % 11)),
    );
  });

  it("holds the pulls waiting behind a write that hangs to the limit, dropping the oldest, and stores the rest once the write ends", async () => {
    const store = await tempStore();
    const hanging = Object.create(store) as LocalStore;
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    let puts = 0;
    hanging.put = async (...args: Parameters<LocalStore["put"]>) => {
      // The first write hangs (an S3 request can wait minutes before it fails); the rest do not.
      if (puts++ === 0) await released;
      return store.put(...args);
    };
    const outbox = new Outbox(hanging, "p1");
    const limit = 2_000;
    const lost: { n: number; message: string }[] = [];
    const lose = (n: number, err: unknown) => lost.push({ n, message: (err as Error).message });
    let current: PullLog | undefined;
    const add = (i: number) => {
      if (current === undefined || current.closed) {
        current = new PullLog(SOURCE);
        current.add(pull(i));
        outbox.defer(current, 20, lose, limit);
      } else {
        current.add(pull(i));
        if ((current.count & 1023) === 0) outbox.grew(20, lose, limit);
      }
    };
    for (let i = 0; i < 500; i++) add(i);
    // The first window's write begins and hangs.
    for (let i = 0; i < 100 && puts === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(puts).toBe(1);
    for (let i = 500; i < 20_500; i++) add(i);
    // 20,000 pulls arrived behind the hanging write: at most the limit (and the pulls since the
    // last check) wait; the oldest of them were dropped and reported with the reason.
    expect(outbox.pendingDeferred).toBeLessThanOrEqual(limit + 1_024);
    const dropped = lost.reduce((a, l) => a + l.n, 0);
    expect(dropped).toBeGreaterThanOrEqual(20_000 - limit - 1_024);
    expect(lost[0]?.message).toMatch(
      /^the store has not finished this worker's event write begun \d+ s ago; the oldest pending events beyond 2000 are dropped$/,
    );
    release();
    await outbox.flush(lose);
    const events = (await storedBatches(store)).flat();
    // The hanging window's 500, then the newest pulls, in order, each once.
    expect(events.length + dropped).toBe(20_500);
    const sizes = (from: number, n: number) => Array.from({ length: n }, (_, i) => 1000 + ((from + i) % 11));
    expect(events.map((e) => e.target.size)).toEqual([
      ...sizes(0, 500),
      ...sizes(500 + dropped, 20_000 - dropped),
    ]);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it("keeps only what the event keeps of the Host and User-Agent a client sends", () => {
    const log = new PullLog(SOURCE);
    const long = (i: number) => ({
      ...pull(0),
      host: `h${i}.${"x".repeat(16_000)}`,
      useragent: `${i}${"u".repeat(16_000)}`,
    });
    for (let i = 0; i < 3; i++) log.add(long(i));
    const events = log.take(3);
    for (const [i, e] of events.entries()) {
      expect(e.request.host).toBe(long(i).host.slice(0, HOST_MAX));
      expect(e.request.useragent).toBe(long(i).useragent.slice(0, USERAGENT_MAX));
      expect(withoutIds(e)).toEqual(withoutIds(pullEvent(long(i), SOURCE)));
    }
    expect(HOST_MAX).toBe(259);
  });
});
