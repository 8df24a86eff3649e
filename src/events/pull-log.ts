/**
 * A window's pull events, kept compactly until the outbox writes them (`DeferredEvents`).
 *
 * A busy worker answers tens of thousands of pulls a second and keeps each one's event for up to
 * `pull_window`. Kept as an object per pull (or a closure over the request's fields), every one
 * survives the young generation's collections and is copied and then promoted, and the old
 * generation fills with them: the garbage collector, not the events, becomes the cost of a pull.
 * Here a pull is a row of numbers in typed arrays (off the collected heap): its time, its size,
 * and the index of each text field in a table of the distinct texts of this log, which is
 * short (a registry sees few repositories, tags, clients and user agents within one window).
 * The events are made from the rows when the outbox takes them, a batch at a time.
 */
import { HOST_MAX, makeEvent, USERAGENT_MAX, type RegistryEvent } from "./envelope.js";
import type { DeferredEvents } from "./outbox.js";

export interface PullFields {
  /** Milliseconds since the epoch. */
  at: number;
  repository: string;
  /** The tag, or the digest when pulled by digest. */
  reference: string;
  digest: string;
  mediaType: string;
  size: number;
  addr: string;
  host: string;
  method: string;
  useragent: string;
}

/** Text fields per row: repository, reference, digest, mediaType, addr, host, method, useragent. */
const WIDTH = 8;
/**
 * The client chooses two texts of a pull: its Host and User-Agent headers (up to 16 KiB each).
 * The log keeps only what the event keeps of them (HOST_MAX, USERAGENT_MAX characters). A client
 * can still make them distinct on every pull: the log then keeps each once, and the outbox
 * bounds how many pulls wait (WINDOW_MAX_EVENTS, PENDING_LIMIT).
 */
const cut = (text: string, max: number): string => (text.length > max ? text.slice(0, max) : text);

/** The event of one pull (a fresh id; the manifest's URL is by digest, the tag kept apart). */
export function pullEvent(pull: PullFields, source: RegistryEvent["source"]): RegistryEvent {
  const { repository, reference, digest } = pull;
  return makeEvent({
    action: "pull",
    target: {
      mediaType: pull.mediaType,
      size: pull.size,
      digest,
      repository,
      url: `/v2/${repository}/manifests/${digest}`,
      ...(reference !== digest ? { tag: reference } : {}),
    },
    request: { addr: pull.addr, host: pull.host, method: pull.method, useragent: pull.useragent },
    source,
    now: pull.at,
  });
}

/**
 * A string with storage of its own. V8 makes a slice of 13 characters or more a view into the
 * string it was cut from; a round trip through UTF-16 bytes is exact for any JS string, lone
 * surrogates included.
 */
function ownCopy(text: string): string {
  return text.length < 13 ? text : Buffer.from(text, "utf16le").toString("utf16le");
}

export class PullLog implements DeferredEvents {
  private times = new Float64Array(1024);
  private sizes = new Float64Array(1024);
  /** Row r's text fields are texts[refs[r * WIDTH + column]]. */
  private refs = new Uint32Array(1024 * WIDTH);
  private readonly texts: string[] = [];
  private readonly index = new Map<string, number>();
  /** Per column, the last text and its index: consecutive pulls mostly repeat them. */
  private readonly lastText: (string | undefined)[] = new Array<string | undefined>(WIDTH).fill(undefined);
  private readonly lastIndex = new Uint32Array(WIDTH);
  private rows = 0;
  private taken = 0;
  private sealed = false;

  constructor(private readonly source: RegistryEvent["source"]) {}

  /** Whether the outbox has begun to take from this log: new pulls then go to a new one. */
  get closed(): boolean {
    return this.sealed;
  }

  get count(): number {
    return this.rows - this.taken;
  }

  add(pull: PullFields): void {
    if (this.sealed) throw new Error("this pull log is closed: the outbox has begun to write it");
    const row = this.rows;
    if (row === this.times.length) this.grow();
    this.times[row] = pull.at;
    this.sizes[row] = pull.size;
    const base = row * WIDTH;
    this.refs[base] = this.textIndex(0, pull.repository);
    this.refs[base + 1] = this.textIndex(1, pull.reference);
    this.refs[base + 2] = this.textIndex(2, pull.digest);
    this.refs[base + 3] = this.textIndex(3, pull.mediaType);
    this.refs[base + 4] = this.textIndex(4, pull.addr);
    this.refs[base + 5] = this.textIndex(5, cut(pull.host, HOST_MAX));
    this.refs[base + 6] = this.textIndex(6, pull.method);
    this.refs[base + 7] = this.textIndex(7, cut(pull.useragent, USERAGENT_MAX));
    this.rows = row + 1;
  }

  take(n: number): RegistryEvent[] {
    this.sealed = true;
    const end = Math.min(this.rows, this.taken + Math.max(0, n));
    const events: RegistryEvent[] = [];
    for (let row = this.taken; row < end; row++) events.push(this.event(row));
    this.taken = end;
    if (this.count === 0) this.release();
    return events;
  }

  drop(n: number): void {
    this.sealed = true;
    this.taken = Math.min(this.rows, this.taken + Math.max(0, n));
    if (this.count === 0) this.release();
  }

  private event(row: number): RegistryEvent {
    const base = row * WIDTH;
    const text = (column: number) => this.texts[this.refs[base + column] as number] as string;
    return pullEvent(
      {
        at: this.times[row] as number,
        repository: text(0),
        reference: text(1),
        digest: text(2),
        mediaType: text(3),
        size: this.sizes[row] as number,
        addr: text(4),
        host: text(5),
        method: text(6),
        useragent: text(7),
      },
      this.source,
    );
  }

  private textIndex(column: number, text: string): number {
    if (this.lastText[column] === text) return this.lastIndex[column] as number;
    let i = this.index.get(text);
    if (i === undefined) {
      i = this.texts.length;
      // A copy: a text cut from a longer one (the user agent, a tag sliced from the path) would
      // otherwise keep the whole of that one alive for the window.
      const own = ownCopy(text);
      this.texts.push(own);
      this.index.set(own, i);
    }
    this.lastText[column] = text;
    this.lastIndex[column] = i;
    return i;
  }

  private grow(): void {
    const capacity = this.times.length * 2;
    const times = new Float64Array(capacity);
    times.set(this.times);
    this.times = times;
    const sizes = new Float64Array(capacity);
    sizes.set(this.sizes);
    this.sizes = sizes;
    const refs = new Uint32Array(capacity * WIDTH);
    refs.set(this.refs);
    this.refs = refs;
  }

  /** Everything taken: let the columns and texts go even while the outbox still holds this log. */
  private release(): void {
    this.times = new Float64Array(0);
    this.sizes = new Float64Array(0);
    this.refs = new Uint32Array(0);
    this.texts.length = 0;
    this.index.clear();
    this.lastText.fill(undefined);
  }
}
