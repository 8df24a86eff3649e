/**
 * Which process delivers: the holder of `.raas/events/lease.json`, a small object naming its
 * owner and an expiry. Neither S3 in general (until conditional writes), nor s3rver (it honours
 * If-None-Match on GET only), nor the local store (atomic rename, no exclusive create) offers a
 * compare-and-swap on put, so a claim is write-then-verify: a process writes its claim only when
 * the lease is free or expired, waits `settleMs`, and holds the lease only if it reads its own
 * claim back. Two processes that claim in the same instant both read the later write and only
 * its writer proceeds; a holder that stalls longer than the lease and resumes may deliver a batch
 * another process delivers too: duplicates with the same event ids, never lost events.
 */
import { randomBytes } from "node:crypto";
import { ObjectNotFoundError, type BlobStore } from "../storage/types.js";
import { LEASE_KEY } from "./outbox.js";

interface LeaseBody {
  owner: string;
  token: string;
  expires: number;
}

export class Lease {
  private token: string | undefined;
  private expires = 0;

  constructor(
    private readonly store: BlobStore,
    private readonly owner: string,
    private readonly ttlMs: number,
    private readonly settleMs: number,
    private readonly now: () => number = Date.now,
    /** Where the lease lives: the event delivery's by default; other periodic jobs pass their own. */
    private readonly key: string = LEASE_KEY,
  ) {}

  private async read(): Promise<LeaseBody | undefined> {
    try {
      const body = JSON.parse((await this.store.getBuffer(this.key)).toString("utf8")) as LeaseBody;
      return typeof body.owner === "string" && typeof body.expires === "number" ? body : undefined;
    } catch (err) {
      if (err instanceof ObjectNotFoundError || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }

  private async write(): Promise<void> {
    this.token ??= randomBytes(8).toString("hex");
    const expires = this.now() + this.ttlMs;
    const body: LeaseBody = { owner: this.owner, token: this.token, expires };
    await this.store.put(this.key, Buffer.from(JSON.stringify(body)), { contentType: "application/json" });
    this.expires = expires;
  }

  /** True while this process holds the lease for at least half its time to live (renewing it). */
  async hold(): Promise<boolean> {
    const current = await this.read();
    const mine = current !== undefined && current.owner === this.owner && current.token === this.token;
    if (mine) {
      if (this.expires - this.now() < this.ttlMs / 2) await this.write();
      return true;
    }
    this.token = undefined;
    if (current !== undefined && current.expires > this.now()) return false;
    await this.write();
    await new Promise((r) => setTimeout(r, this.settleMs));
    const after = await this.read();
    return after?.owner === this.owner && after.token === this.token;
  }

  /** Still ours for a while (checked before each delivery, without a storage round trip). */
  valid(): boolean {
    return this.token !== undefined && this.expires - this.now() > this.ttlMs / 4;
  }

  /** Give the lease up (shutdown), so another process can take over at once. */
  async release(): Promise<void> {
    const current = await this.read().catch(() => undefined);
    if (current?.owner === this.owner && current.token === this.token) {
      await this.store.delete(this.key).catch(() => undefined);
    }
    this.token = undefined;
  }
}
