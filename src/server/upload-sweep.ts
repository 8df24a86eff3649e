/**
 * Sweeping abandoned upload sessions: a client that starts an upload and never finishes or
 * cancels it leaves its parts (and on S3 an open multipart upload, billed until aborted). Every
 * `intervalMs` one process of all the registry's workers and replicas, the holder of a lease in
 * storage (the write-then-verify lease of src/events/lease.ts), removes the sessions untouched
 * for `maxAgeMs`. Sweeping twice is harmless, so a lease that two processes briefly both believe
 * they hold costs a duplicate listing, never a lost upload younger than the age.
 */
import { Lease } from "../events/lease.js";
import type { BlobStore } from "../storage/types.js";
import type { UploadSessions } from "./upload-sessions.js";

export const SWEEP_LEASE_KEY = ".raas/uploads/sweep-lease.json";

export interface UploadSweepOptions {
  maxAgeMs: number;
  intervalMs: number;
  /** Who sweeps (for the lease): unique per process. */
  owner: string;
  settleMs?: number;
}

export class UploadSweeper {
  private readonly lease: Lease;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    store: BlobStore,
    private readonly sessions: UploadSessions,
    private readonly options: UploadSweepOptions,
    private readonly log: (event: { removed?: number; error?: string }) => void,
  ) {
    // The lease outlives one interval, so its holder keeps sweeping and the others stay idle.
    this.lease = new Lease(
      store,
      options.owner,
      options.intervalMs * 3,
      options.settleMs ?? 250,
      Date.now,
      SWEEP_LEASE_KEY,
    );
  }

  /** One pass: the number of sessions removed, or undefined when another process holds the lease. */
  async runOnce(now = new Date()): Promise<number | undefined> {
    if (!(await this.lease.hold())) return undefined;
    return this.sessions.sweep(this.options.maxAgeMs, now);
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.running !== undefined) return;
      this.running = this.runOnce()
        .then((removed) => {
          if (removed !== undefined && removed > 0) this.log({ removed });
        })
        .catch((err: unknown) => this.log({ error: err instanceof Error ? err.message : String(err) }))
        .finally(() => (this.running = undefined));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.lease.release();
  }
}
