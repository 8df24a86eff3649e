/**
 * Delivery: the process holding the lease reads the outbox oldest first and POSTs each batch to
 * every endpoint that does not have it yet, then marks it done for that endpoint. A batch done
 * for every endpoint is deleted. Delivery is at-least-once: a crash between the POST and the
 * done marker sends the batch again, with the same event ids.
 *
 * Per endpoint, like the reference registry: a request times out after `timeout`; after
 * `threshold` failures in a row the endpoint waits `backoff` before the next attempt, and its
 * batches wait in the outbox (in order) meanwhile. At most `max_backlog` batches wait per
 * endpoint; beyond that the oldest are dropped for that endpoint and counted.
 */
import { request as httpRequest, type ClientRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { errorMessage } from "../errors.js";
import { ObjectNotFoundError, type BlobStore } from "../storage/types.js";
import type { EndpointConfig } from "./config.js";
import { EVENTS_MEDIA_TYPE, parseEnvelope, type RegistryEvent } from "./envelope.js";
import { Lease } from "./lease.js";
import {
  batchEventsJson,
  batchName,
  DONE_PREFIX,
  ENVELOPE_HEAD,
  ENVELOPE_TAIL,
  EVENTS_PREFIX,
  OUTBOX_PREFIX,
  type StoredBatch,
  utf8Bytes,
} from "./outbox.js";

export const STATE_PREFIX = `${EVENTS_PREFIX}state/`;
/** Events per POST at most (several outbox batches can go in one request). */
const MAX_POST = 500;

export interface EndpointState {
  endpoint: string;
  /** Batches waiting for this endpoint (as of the last pass). */
  backlog: number;
  delivered: number;
  failures: number;
  dropped: number;
  lastError?: string;
  lastErrorAt?: string;
  lastSuccessAt?: string;
  /** Time of the oldest waiting batch, when any. */
  oldestPendingAt?: string;
}

export interface DispatcherOptions {
  store: BlobStore;
  endpoints: EndpointConfig[];
  /** This process's name (the lease owner). */
  owner: string;
  /** Header values with `${VAR}` already expanded. */
  headers?: (endpoint: EndpointConfig) => Record<string, string>;
  pollMs?: number;
  leaseMs?: number;
  settleMs?: number;
  log?: (message: string) => void;
  /**
   * This process's own outbox, when it keeps the batches it wrote (outbox.ts, `keep`): those are
   * sent as stored, without a read from storage, a parse or a second serialization.
   */
  kept?: { storedBatch(key: string): StoredBatch | undefined; forget(key: string): void };
}

function wanted(endpoint: EndpointConfig, event: RegistryEvent): boolean {
  return (
    !endpoint.ignoredActions.includes(event.action) &&
    !endpoint.ignoredMediaTypes.includes(event.target.mediaType)
  );
}

/** Whether `endpoint` wants every event of a kept batch (then it is sent as stored). */
function wantsAll(endpoint: EndpointConfig, batch: StoredBatch): boolean {
  for (const action of batch.actions) if (endpoint.ignoredActions.includes(action)) return false;
  for (const type of batch.mediaTypes) if (endpoint.ignoredMediaTypes.includes(type)) return false;
  return true;
}

const HEAD = Buffer.from(ENVELOPE_HEAD);
const COMMA = Buffer.from(",");
const TAIL = Buffer.from(ENVELOPE_TAIL);

/**
 * The events of one POST, as pieces of JSON text: kept batches as stored, other events as
 * serialized once. The body is `{"events":[<pieces joined by commas>]}`, the same text
 * `JSON.stringify({ events })` of the parsed events gives.
 */
class PostBody {
  private readonly pieces: Buffer[] = [];
  count = 0;

  addStored(batch: StoredBatch): void {
    if (batch.count === 0) return;
    this.pieces.push(batchEventsJson(batch));
    this.count += batch.count;
  }

  addEvents(events: RegistryEvent[]): void {
    if (events.length === 0) return;
    const text = JSON.stringify(events);
    this.pieces.push(utf8Bytes(text.slice(1, -1)));
    this.count += events.length;
  }

  /** The body as the pieces to write, in order (not copied into one buffer). */
  parts(): Buffer[] {
    const parts: Buffer[] = [HEAD];
    this.pieces.forEach((piece, i) => {
      if (i > 0) parts.push(COMMA);
      parts.push(piece);
    });
    parts.push(TAIL);
    return parts;
  }
}

const timeOfBatch = (name: string) => new Date(Number(name.slice(0, 13))).toISOString();

export class Dispatcher {
  private readonly lease: Lease;
  private readonly states = new Map<string, EndpointState & { retryAt: number; streak: number }>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private loop: (() => void) | undefined;
  /** Woken while a pass ran: the next pass starts at once. */
  private woken = false;

  constructor(private readonly options: DispatcherOptions) {
    this.lease = new Lease(options.store, options.owner, options.leaseMs ?? 15_000, options.settleMs ?? 250);
    for (const e of options.endpoints) {
      this.states.set(e.name, {
        endpoint: e.name,
        backlog: 0,
        delivered: 0,
        failures: 0,
        dropped: 0,
        retryAt: 0,
        streak: 0,
      });
    }
  }

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      this.running = this.pass()
        .catch((err: unknown) => this.options.log?.(`event delivery: ${errorMessage(err)}`))
        .finally(() => {
          this.running = undefined;
          const now = this.woken;
          this.woken = false;
          if (!this.stopped) this.timer = setTimeout(loop, now ? 0 : (this.options.pollMs ?? 1000));
        });
    };
    this.loop = loop;
    this.timer = setTimeout(loop, 0);
  }

  /**
   * This process has just stored a batch: when it is the one delivering, deliver now instead of
   * at the next poll (right after the pass that is running, if one is), while the batch is still
   * kept in memory (`kept`).
   */
  wake(): void {
    if (this.stopped || this.loop === undefined || !this.delivering()) return;
    if (this.running !== undefined) {
      this.woken = true;
      return;
    }
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(this.loop, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running;
    await this.lease.release();
  }

  /** Whether this process is the one delivering now (it holds the lease). */
  delivering(): boolean {
    return !this.stopped && this.lease.valid();
  }

  /** Counters for /metrics (this process's view; the lease holder's is the live one). */
  snapshot(): EndpointState[] {
    return [...this.states.values()].map(({ retryAt: _r, streak: _s, ...state }) => state);
  }

  /** One delivery pass (exported for tests and the benchmark). */
  async pass(): Promise<void> {
    const { store, endpoints } = this.options;
    if (endpoints.length === 0) return;
    if (!(await this.lease.hold())) {
      // Another process delivers: its backlog is the live one (metrics are summed over processes).
      for (const state of this.states.values()) {
        state.backlog = 0;
        delete state.oldestPendingAt;
      }
      return;
    }
    const batches: string[] = [];
    for await (const o of store.list(OUTBOX_PREFIX)) batches.push(o.key);
    batches.sort();
    const names = new Set(batches.map(batchName));
    const done = new Map<string, Set<string>>();
    for (const endpoint of endpoints) {
      const set = new Set<string>();
      for await (const o of store.list(`${DONE_PREFIX}${endpoint.name}/`)) {
        const name = batchName(o.key);
        if (names.has(name)) set.add(name);
        else await store.delete(o.key); // its batch is gone: a cleanup that crashed half-way
      }
      done.set(endpoint.name, set);
    }
    for (const endpoint of endpoints) {
      if (this.stopped) return;
      await this.deliverTo(endpoint, batches, done.get(endpoint.name) ?? new Set());
    }
    // Delete what every endpoint has: the batch first, then its markers (16 at a time).
    const finished = batches.filter((key) => endpoints.every((e) => done.get(e.name)?.has(batchName(key))));
    for (let i = 0; i < finished.length; i += 16) {
      await Promise.all(
        finished.slice(i, i + 16).map(async (key) => {
          this.options.kept?.forget(key);
          await store.delete(key);
          for (const e of endpoints) await store.delete(`${DONE_PREFIX}${e.name}/${batchName(key)}`);
        }),
      );
    }
  }

  private async deliverTo(endpoint: EndpointConfig, batches: string[], done: Set<string>): Promise<void> {
    const { store } = this.options;
    const state = this.states.get(endpoint.name);
    if (state === undefined) return;
    const mark = async (name: string, dropped: boolean) => {
      await store.put(
        `${DONE_PREFIX}${endpoint.name}/${name}`,
        Buffer.from(dropped ? "dropped" : "delivered"),
      );
      done.add(name);
    };
    let pending = batches.filter((key) => !done.has(batchName(key)));
    const excess = pending.length - endpoint.maxBacklog;
    if (excess > 0) {
      for (const key of pending.slice(0, excess)) await mark(batchName(key), true);
      state.dropped += excess;
      this.options.log?.(
        `event endpoint ${endpoint.name}: backlog over ${endpoint.maxBacklog}; dropped the ${excess} oldest batch(es)`,
      );
      pending = pending.slice(excess);
    }
    state.backlog = pending.length;
    const first = pending[0];
    if (first === undefined) delete state.oldestPendingAt;
    else state.oldestPendingAt = timeOfBatch(batchName(first));
    if (Date.now() < state.retryAt) return;
    // Consecutive batches go out together, up to MAX_POST events per request.
    for (let i = 0; i < pending.length;) {
      if (this.stopped || !this.lease.valid()) return;
      const group: string[] = [];
      const body = new PostBody();
      for (; i < pending.length && body.count < MAX_POST; i++) {
        const key = pending[i] ?? "";
        const kept = this.options.kept?.storedBatch(key);
        if (kept !== undefined && wantsAll(endpoint, kept)) {
          body.addStored(kept);
          group.push(batchName(key));
          continue;
        }
        try {
          const { events } = parseEnvelope(await store.getBuffer(key), key);
          body.addEvents(events.filter((e) => wanted(endpoint, e)));
        } catch (err) {
          if (err instanceof ObjectNotFoundError) continue; // deleted by a previous holder's cleanup
          throw err;
        }
        group.push(batchName(key));
      }
      if (body.count > 0) {
        const error = await this.post(endpoint, body.parts());
        if (error !== undefined) {
          state.failures++;
          state.streak++;
          const wasOk = state.lastError === undefined;
          state.lastError = error;
          state.lastErrorAt = new Date().toISOString();
          if (state.streak >= endpoint.threshold) state.retryAt = Date.now() + endpoint.backoffMs;
          if (wasOk) await this.saveState(state);
          return; // keep the order: later batches wait for these
        }
        state.delivered += body.count;
      }
      const recovered = state.lastError !== undefined;
      state.streak = 0;
      delete state.lastError;
      state.lastSuccessAt = new Date().toISOString();
      await Promise.all(group.map((name) => mark(name, false)));
      state.backlog = Math.max(0, state.backlog - group.length);
      if (recovered) await this.saveState(state);
    }
    delete state.oldestPendingAt;
  }

  /**
   * The error text, or undefined on success (a 2xx or 3xx status, as in the reference registry;
   * a redirect is not followed). The body's pieces are written as they are, without being
   * copied into one buffer: a busy registry posts tens of megabytes of events a second.
   */
  private post(endpoint: EndpointConfig, parts: Buffer[]): Promise<string | undefined> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (error?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(error);
      };
      const timer = setTimeout(() => {
        done(`no answer within ${endpoint.timeoutMs / 1000} s`);
        req?.destroy();
      }, endpoint.timeoutMs);
      let req: ClientRequest | undefined;
      try {
        const url = new URL(endpoint.url);
        if (url.username !== "" || url.password !== "") {
          // The configuration refuses such a URL; never send a credential written into it.
          return done("the URL carries a user or password: not sent");
        }
        const send = url.protocol === "https:" ? httpsRequest : httpRequest;
        req = send(
          url,
          {
            method: "POST",
            headers: {
              ...(this.options.headers?.(endpoint) ?? endpoint.headers),
              "Content-Type": EVENTS_MEDIA_TYPE,
              "Content-Length": String(parts.reduce((n, p) => n + p.length, 0)),
            },
          },
          (res) => {
            const status = res.statusCode ?? 0;
            const delivered = status >= 200 && status < 400;
            // The answer's body is not wanted: read and dropped, so the connection can be reused.
            res.on("error", (err) => done(errorMessage(err)));
            res.on("end", () => done(delivered ? undefined : `HTTP ${status}`));
            res.resume();
          },
        );
        req.on("error", (err) => done(errorMessage(err)));
        req.cork();
        for (const part of parts) req.write(part);
        req.uncork();
        req.end();
      } catch (err) {
        // A URL or header value node:http refuses.
        done(errorMessage(err));
      }
    });
  }

  /** What `raas status` reads: written when an endpoint starts failing and when it recovers. */
  private async saveState(state: EndpointState): Promise<void> {
    const {
      retryAt: _r,
      streak: _s,
      ...body
    } = state as EndpointState & { retryAt?: number; streak?: number };
    await this.options.store
      .put(`${STATE_PREFIX}${state.endpoint}.json`, Buffer.from(JSON.stringify(body)), {
        contentType: "application/json",
      })
      .catch(() => undefined);
  }
}

/** The event backlog as stored: waiting batches and the oldest one's time, per endpoint (for status). */
export async function readBacklog(
  store: BlobStore,
  endpointNames: string[],
): Promise<{ endpoint: string; backlog: number; oldestPendingAt?: string; lastError?: string }[]> {
  const batches: string[] = [];
  for await (const o of store.list(OUTBOX_PREFIX)) batches.push(batchName(o.key));
  batches.sort();
  const result = [];
  for (const endpoint of endpointNames) {
    const done = new Set<string>();
    for await (const o of store.list(`${DONE_PREFIX}${endpoint}/`)) done.add(batchName(o.key));
    const pending = batches.filter((b) => !done.has(b));
    let lastError: string | undefined;
    try {
      const state = JSON.parse(
        (await store.getBuffer(`${STATE_PREFIX}${endpoint}.json`)).toString("utf8"),
      ) as EndpointState;
      lastError = state.lastError;
    } catch {
      lastError = undefined;
    }
    const first = pending[0];
    result.push({
      endpoint,
      backlog: pending.length,
      ...(first === undefined ? {} : { oldestPendingAt: timeOfBatch(first) }),
      ...(lastError === undefined ? {} : { lastError }),
    });
  }
  return result;
}
