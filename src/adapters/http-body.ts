/**
 * Reading an HTTP answer from a server raas does not control (a vendor location, a search
 * backend, the OpenShift API, a registry being checked): never more than a stated number of
 * bytes, whatever the server declares or keeps sending, and (with `stallMs`) never waiting without
 * end for the next byte. Used by the CLI and the registry alike; the one stall bound of raas.
 */

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the response is larger than the ${limit}-byte limit`);
    this.name = "BodyTooLargeError";
  }
}

export class BodyStalledError extends Error {
  constructor(readonly ms: number) {
    super(`the response sent nothing for ${ms / 1000} s`);
    this.name = "BodyStalledError";
  }
}

export interface CapOptions {
  /** Give up (BodyStalledError) when no bytes arrive for this long; unbounded when absent. */
  stallMs?: number;
}

/** The body of `res`, or BodyTooLargeError as soon as it passes `limit` bytes (the rest is not read). */
export async function readCapped(res: Response, limit: number, options: CapOptions = {}): Promise<Buffer> {
  if (res.body === null) return Buffer.alloc(0);
  const declared = Number(res.headers.get("content-length") ?? "");
  if (Number.isFinite(declared) && declared > limit) {
    await res.body.cancel();
    throw new BodyTooLargeError(limit);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const value of bodyChunks(res, options)) {
    total += value.length;
    if (total > limit) throw new BodyTooLargeError(limit); // leaving the loop cancels the body
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

/**
 * The body of `res` chunk by chunk, for a reader that streams it (`Readable.from(bodyChunks(res))`).
 * With `stallMs`, BodyStalledError when no chunk arrives for that long; only the wait for the peer
 * counts, not the time the consumer takes. Stopping early (an error, a break) cancels the body.
 */
export async function* bodyChunks(res: Response, options: CapOptions = {}): AsyncGenerator<Uint8Array> {
  if (res.body === null) return;
  const reader = res.body.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await nextChunk(reader, options.stallMs);
      if (done) {
        finished = true;
        return;
      }
      yield value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
  }
}

async function nextChunk(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  stallMs: number | undefined,
): ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]> {
  if (stallMs === undefined) return reader.read();
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new BodyStalledError(stallMs)), stallMs);
  });
  try {
    return await Promise.race([reader.read(), stalled]);
  } catch (err) {
    if (err instanceof BodyStalledError) await reader.cancel().catch(() => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** The body as UTF-8 text, at most `limit` bytes (see readCapped). */
export async function textCapped(res: Response, limit: number, options: CapOptions = {}): Promise<string> {
  return (await readCapped(res, limit, options)).toString("utf8");
}

/** Lets go of a body that is not needed, without reading it. */
export async function discardBody(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => undefined);
}
