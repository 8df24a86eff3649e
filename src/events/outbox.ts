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
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { BlobStore } from "../storage/types.js";
import type { RegistryEvent } from "./envelope.js";

export const EVENTS_PREFIX = ".raas/events/";
export const OUTBOX_PREFIX = `${EVENTS_PREFIX}outbox/`;
export const DONE_PREFIX = `${EVENTS_PREFIX}done/`;
export const LEASE_KEY = `${EVENTS_PREFIX}lease.json`;
const MAX_BATCH = 500;

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

  constructor(
    private readonly store: BlobStore,
    readonly producer: string = producerId(),
    /** Batch writes in flight at once: a quiet worker writes at once, a busy one groups. */
    private readonly parallel = 4,
  ) {}

  /** Resolves once `event` is in storage; rejects if the write failed. */
  record(event: RegistryEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ event, done: (err) => (err === undefined ? resolve() : reject(err)) });
      if (this.inFlight < this.parallel) void this.write();
    });
  }

  /** Wait for everything queued so far to be stored. */
  async flush(): Promise<void> {
    while (this.inFlight > 0 || this.queue.length > 0) {
      await new Promise<void>((resolve) => this.idle.push(resolve));
    }
  }

  private async write(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    this.inFlight++;
    const key = `${OUTBOX_PREFIX}${String(Date.now()).padStart(13, "0")}-${this.producer}-${this.seq++}.json`;
    try {
      // No content type: the local store would write a sidecar file for it, one more write per batch.
      await this.store.put(key, Buffer.from(JSON.stringify({ events: batch.map((b) => b.event) })));
      this.stored += batch.length;
      for (const b of batch) b.done();
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
