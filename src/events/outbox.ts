/**
 * The outbox: events are stored in the ISV's blob store before the request that caused them
 * completes, and stay there until every endpoint has them.
 *
 * Layout (keys under `.raas/`, a first segment no repository name can have):
 *   .raas/events/outbox/<13-digit ms>-<producer>-<seq>.json   one envelope per batch
 *   .raas/events/done/<endpoint>/<batch name>                 the batch reached that endpoint
 *   .raas/events/lease.json                                   which process delivers (lease.ts)
 *
 * Writes are group commits: up to `parallel` batch writes are in flight; events that arrive
 * meanwhile queue and the next write carries all of them, so a busy worker makes a few writes
 * per storage round trip, not one per request, and a quiet one adds one write's latency.
 *
 * Deferred events (`defer`, the registry's pull events by default) are not waited for: they are
 * kept in memory and written together once per window, like the pull statistics. A crash loses
 * at most the events deferred since the last window's write of that process.
 *
 * A process that also delivers (deliver.ts) can have the outbox keep the bytes of the batches it
 * wrote (`keep`), so that delivering them needs no read back from storage, no parse and no second
 * serialization: the batch as stored is what is sent (`StoredBatch`); `stored` tells it to
 * deliver at once, while the batch is kept.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { BlobStore } from "../storage/types.js";
import type { EventAction, RegistryEvent } from "./envelope.js";

export const EVENTS_PREFIX = ".raas/events/";
export const OUTBOX_PREFIX = `${EVENTS_PREFIX}outbox/`;
export const DONE_PREFIX = `${EVENTS_PREFIX}done/`;
export const LEASE_KEY = `${EVENTS_PREFIX}lease.json`;
const MAX_BATCH = 500;
/**
 * A window is written early once it holds this many deferred events: a busy worker, or a long
 * `pull_window`, writes by size as well as by time.
 */
export const WINDOW_MAX_EVENTS = 50_000;
/**
 * The most deferred events an outbox keeps waiting behind a write that failed or has not
 * finished (a store that refuses, or hangs); beyond, the oldest are lost (and counted).
 */
export const PENDING_LIMIT = 100_000;
/** The most bytes of its own batches an outbox keeps for delivery; beyond, the oldest are dropped. */
const KEPT_MAX_BYTES = 16 * 1024 * 1024;
/** What every stored batch, and every delivery's body, starts and ends with: `JSON.stringify({ events })`. */
export const ENVELOPE_HEAD = '{"events":[';
export const ENVELOPE_TAIL = "]}";

/**
 * A batch as this process stored it: its bytes, and what delivery's filters look at (the actions
 * and media types of its events), so that a batch whose every event an endpoint wants is sent as
 * it is, without being parsed.
 */
export interface StoredBatch {
  bytes: Buffer;
  count: number;
  actions: ReadonlySet<EventAction>;
  mediaTypes: ReadonlySet<string>;
}

/** The events of a stored batch as the inside of a JSON array (`a,b,c`), without copying. */
export function batchEventsJson(batch: StoredBatch): Buffer {
  return batch.bytes.subarray(ENVELOPE_HEAD.length, batch.bytes.length - ENVELOPE_TAIL.length);
}

/**
 * Many deferred events kept by their producer in a compact form of its own, and made when their
 * window is written, oldest first (the registry's pull events: `PullLog`). The outbox takes or
 * drops them from the front only; once it has, the producer adds no more to this object.
 */
export interface DeferredEvents {
  /** Events not yet taken or dropped. */
  readonly count: number;
  /** Make the oldest `n` (at most `count`) and remove them. */
  take(n: number): RegistryEvent[];
  /** Remove the oldest `n` (at most `count`) without making them. */
  drop(n: number): void;
}

/**
 * A deferred event: the event itself, or many events kept compactly and made when their window is
 * written (`DeferredEvents`). An event's id is fixed when it is made, before it is first stored.
 */
export type DeferredEvent = RegistryEvent | DeferredEvents;

const isMany = (e: DeferredEvent): e is DeferredEvents =>
  typeof (e as Partial<DeferredEvents>).take === "function";
const countOf = (e: DeferredEvent): number => (isMany(e) ? e.count : 1);

/**
 * The UTF-8 bytes of a text. JSON is mostly ASCII, and for ASCII text Latin-1 gives the same
 * bytes and is many times faster to encode than UTF-8; a text whose UTF-8 length is its length
 * in characters is ASCII (every other character takes two bytes or more in UTF-8).
 */
export function utf8Bytes(text: string): Buffer {
  return Buffer.from(text, Buffer.byteLength(text) === text.length ? "latin1" : "utf8");
}

/** A name for this process in keys and in `source.instanceID`: host, pid and a random part. */
export function producerId(): string {
  const host = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .slice(0, 40);
  return `${host}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

export function batchName(key: string): string {
  return key.slice(key.lastIndexOf("/") + 1);
}

export class Outbox {
  private queue: { event: RegistryEvent; done: (err?: Error) => void }[] = [];
  private inFlight = 0;
  private idle: (() => void)[] = [];
  private seq = 0;
  /** Events stored (for metrics and the benchmark). */
  stored = 0;
  /** Deferred events not yet handed to a write (for metrics). */
  private deferred: DeferredEvent[] = [];
  private windowTimer: NodeJS.Timeout | undefined;
  private windowWrite: Promise<void> | undefined;
  /** When the window write in flight began (ms since the epoch). */
  private windowWriteAt = 0;
  /** This process's batches kept for delivery, oldest first, by key. */
  private readonly kept = new Map<string, StoredBatch>();
  private keptBytes = 0;

  constructor(
    private readonly store: BlobStore,
    readonly producer: string = producerId(),
    /** Batch writes in flight at once: a quiet worker writes at once, a busy one groups. */
    private readonly parallel = 4,
    private readonly options: {
      /**
       * Whether to keep the bytes of the batches written from now on for this process's own
       * delivery (asked at each write: a worker keeps them only while it is the one delivering).
       */
      keep?: () => boolean;
      /**
       * Called once a window's batches, or a recorded event's batch, are stored (the delivering
       * process then delivers at once).
       */
      stored?: () => void;
    } = {},
  ) {}

  /** A batch this process wrote and still keeps (see `keep`), by its key. */
  storedBatch(key: string): StoredBatch | undefined {
    return this.kept.get(key);
  }

  /** Stop keeping a batch (delivered everywhere and deleted). */
  forget(key: string): void {
    const batch = this.kept.get(key);
    if (batch === undefined) return;
    this.kept.delete(key);
    this.keptBytes -= batch.bytes.length;
  }

  private remember(key: string, events: RegistryEvent[], bytes: Buffer): void {
    const actions = new Set<EventAction>();
    const mediaTypes = new Set<string>();
    for (const e of events) {
      actions.add(e.action);
      mediaTypes.add(e.target.mediaType);
    }
    this.kept.set(key, { bytes, count: events.length, actions, mediaTypes });
    this.keptBytes += bytes.length;
    // The oldest go first: an endpoint that is down for long reads its backlog from storage.
    for (const oldest of this.kept.keys()) {
      if (this.keptBytes <= KEPT_MAX_BYTES) break;
      this.forget(oldest);
    }
  }

  /** Resolves once `event` is in storage; rejects if the write failed. */
  record(event: RegistryEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ event, done: (err) => (err === undefined ? resolve() : reject(err)) });
      if (this.inFlight < this.parallel) void this.write();
    });
  }

  /** Deferred events waiting for their window's write. */
  get pendingDeferred(): number {
    let n = 0;
    for (const e of this.deferred) n += countOf(e);
    return n;
  }

  /**
   * Keep `event` for the next window's write (at most `windowMs` from the first deferred event)
   * and return at once. A failed write keeps its events for the next window, up to `limit`
   * events; beyond that the oldest are given to `lost` (counted and logged by the caller).
   * A producer that adds to its `DeferredEvents` in place (a `PullLog`) calls `grew` as it does.
   */
  defer(
    event: DeferredEvent,
    windowMs: number,
    lost: (count: number, err: unknown) => void,
    limit = PENDING_LIMIT,
  ): void {
    // Deferring the newest entry's DeferredEvents again adds nothing: it is one entry.
    if (!isMany(event) || this.deferred.at(-1) !== event) this.deferred.push(event);
    this.arm(windowMs, lost, limit);
  }

  /**
   * A deferred `DeferredEvents` has grown in place (call it every so often, not per event): a
   * window holding `WINDOW_MAX_EVENTS` is written at once rather than at its time; and while a
   * write is still in flight (a slow or hanging store: an S3 request may wait minutes before it
   * fails) the events waiting behind it are held to `limit`, the oldest given to `lost`. So a
   * worker's memory for events stays bounded whatever its clients and its store do.
   */
  grew(windowMs: number, lost: (count: number, err: unknown) => void, limit = PENDING_LIMIT): void {
    const pending = this.pendingDeferred;
    if (pending < Math.min(WINDOW_MAX_EVENTS, limit)) return;
    if (this.windowWrite === undefined) {
      clearTimeout(this.windowTimer);
      this.windowTimer = undefined;
      this.startWrite(windowMs, lost, limit);
    } else if (pending > limit) {
      const seconds = Math.round((Date.now() - this.windowWriteAt) / 1000);
      const err = new Error(
        `the store has not finished this worker's event write begun ${seconds} s ago; the oldest pending events beyond ${limit} are dropped`,
      );
      lost(this.dropOldest(pending - limit), err);
    }
  }

  private arm(windowMs: number, lost: (count: number, err: unknown) => void, limit: number): void {
    if (this.windowTimer !== undefined || this.windowWrite !== undefined || this.deferred.length === 0) {
      return;
    }
    this.windowTimer = setTimeout(() => {
      this.windowTimer = undefined;
      this.startWrite(windowMs, lost, limit);
    }, windowMs);
    this.windowTimer.unref();
  }

  private startWrite(windowMs: number, lost: (count: number, err: unknown) => void, limit: number): void {
    this.windowWriteAt = Date.now();
    let wroteAll = false;
    this.windowWrite = this.writeDeferred(lost, limit)
      .then((all) => {
        wroteAll = all;
      })
      .finally(() => {
        this.windowWrite = undefined;
        // Events deferred while the write ran wait for the next window, or are written at once if
        // they already fill one; events kept after a failed write wait for the next window.
        if (wroteAll && this.pendingDeferred >= Math.min(WINDOW_MAX_EVENTS, limit)) {
          this.startWrite(windowMs, lost, limit);
        } else {
          this.arm(windowMs, lost, limit);
        }
      });
  }

  /** Write the deferred events; false if a write failed (what it kept waits for the next window). */
  private async writeDeferred(lost: (count: number, err: unknown) => void, limit: number): Promise<boolean> {
    const pending = this.deferred.splice(0);
    // One object per MAX_BATCH events: a window of pulls costs one write, not one per pull.
    // Events are made batch by batch, so a busy window never holds all its envelopes at once.
    let next = 0; // pending[next] is the oldest entry not yet (wholly) made
    let wrote = false;
    while (next < pending.length) {
      const batch: RegistryEvent[] = [];
      while (batch.length < MAX_BATCH && next < pending.length) {
        const head = pending[next] as DeferredEvent;
        if (isMany(head)) {
          const made = head.take(MAX_BATCH - batch.length);
          for (const e of made) batch.push(e);
          if (head.count === 0 || made.length === 0) next++;
        } else {
          batch.push(head);
          next++;
        }
      }
      if (batch.length === 0) continue;
      try {
        await this.putBatch(batch);
        wrote = true;
      } catch (err) {
        // Kept as made (their ids stay), then the rest. Not a spread: a long outage can keep
        // up to `limit` events here.
        this.deferred = (batch as DeferredEvent[]).concat(pending.slice(next), this.deferred);
        const over = this.pendingDeferred - limit;
        if (over > 0) lost(this.dropOldest(over), err);
        if (wrote) this.options.stored?.();
        return false;
      }
    }
    if (wrote) this.options.stored?.();
    return true;
  }

  /** Forget the oldest `n` deferred events; returns how many were forgotten. */
  private dropOldest(n: number): number {
    let dropped = 0;
    let whole = 0; // entries wholly dropped, removed from the front at the end (one splice)
    for (const e of this.deferred) {
      if (dropped === n) break;
      if (isMany(e)) {
        const part = Math.min(e.count, n - dropped);
        e.drop(part);
        dropped += part;
        if (e.count > 0) break;
      } else {
        dropped++;
      }
      whole++;
    }
    this.deferred.splice(0, whole);
    return dropped;
  }

  private async putBatch(events: RegistryEvent[]): Promise<void> {
    const key = `${OUTBOX_PREFIX}${String(Date.now()).padStart(13, "0")}-${this.producer}-${this.seq++}.json`;
    const bytes = utf8Bytes(JSON.stringify({ events }));
    await this.store.put(key, bytes);
    this.stored += events.length;
    if (this.options.keep?.() === true) this.remember(key, events, bytes);
  }

  /**
   * Wait for everything queued so far to be stored, deferred events included (shutdown).
   * Deferred events the store refuses now are given to `lost`: there is no next window.
   */
  async flush(lost: (count: number, err: unknown) => void = () => undefined): Promise<void> {
    if (this.windowTimer !== undefined) {
      clearTimeout(this.windowTimer);
      this.windowTimer = undefined;
    }
    // A write that ends may start the next at once (a full window): wait for the last of them.
    while (this.windowWrite !== undefined) await this.windowWrite;
    clearTimeout(this.windowTimer);
    this.windowTimer = undefined;
    if (this.deferred.length > 0) {
      await this.writeDeferred(lost, 0);
    }
    while (this.inFlight > 0 || this.queue.length > 0) {
      await new Promise<void>((resolve) => this.idle.push(resolve));
    }
  }

  private async write(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    this.inFlight++;
    try {
      await this.putBatch(batch.map((b) => b.event));
      for (const b of batch) b.done();
      this.options.stored?.();
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      for (const b of batch) b.done(error);
    } finally {
      this.inFlight--;
      if (this.queue.length > 0) void this.write();
      else if (this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }
}
