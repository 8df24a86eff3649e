/**
 * Failed-login limiter: fixed windows per key (an attempted login name, a client address), held
 * in memory with a bounded number of keys. When full, expired windows go first, then the oldest.
 * Keys are the attempted name whether or not it exists, so limiting reveals nothing.
 */
export interface LimiterOptions {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly maxKeys?: number;
}

interface Window {
  failures: number;
  resetAt: number;
}

export class FailureLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly maxKeys: number;

  constructor(private readonly options: LimiterOptions) {
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  /** Seconds to wait when the key is locked, else 0. */
  retryAfter(key: string, now = Date.now()): number {
    const w = this.windows.get(key);
    if (w === undefined || w.resetAt <= now) return 0;
    return w.failures >= this.options.maxFailures ? Math.ceil((w.resetAt - now) / 1000) : 0;
  }

  fail(key: string, now = Date.now()): void {
    let w = this.windows.get(key);
    if (w === undefined || w.resetAt <= now) {
      this.windows.delete(key);
      this.makeRoom(now);
      w = { failures: 0, resetAt: now + this.options.windowMs };
      this.windows.set(key, w);
    }
    w.failures++;
  }

  reset(key: string): void {
    this.windows.delete(key);
  }

  get size(): number {
    return this.windows.size;
  }

  private makeRoom(now: number): void {
    if (this.windows.size < this.maxKeys) return;
    let scanned = 0;
    for (const [key, w] of this.windows) {
      if (w.resetAt <= now) this.windows.delete(key);
      if (++scanned >= 64) break;
    }
    while (this.windows.size >= this.maxKeys) {
      const oldest = this.windows.keys().next().value;
      if (oldest === undefined) break;
      this.windows.delete(oldest);
    }
  }
}

/** Bounds concurrent password hashing (each scrypt holds 32 MiB); excess waits, overflow is refused. */
export class HashGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency = 4,
    private readonly maxWaiting = 64,
  ) {}

  /** `{ value }` when the task ran; undefined when the queue was full (the caller answers 429). */
  async run<T>(task: () => Promise<T>): Promise<{ value: T } | undefined> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) return undefined;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return { value: await task() };
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
