import { describe, expect, it } from "vitest";
import { BodyTooLargeError, bodyChunks, readCapped, textCapped } from "./http-body.js";

/** A response whose body streams `chunks` chunks of `size` bytes, counting how many were pulled. */
function streamed(chunks: number, size: number, headers: Record<string, string> = {}) {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled === chunks) return controller.close();
      pulled += 1;
      controller.enqueue(new Uint8Array(size).fill(0x61));
    },
  });
  return { res: new Response(body, { headers }), pulled: () => pulled };
}

describe("readCapped", () => {
  it("returns a body within the limit", async () => {
    const { res } = streamed(3, 10);
    expect(await textCapped(res, 30)).toBe("a".repeat(30));
  });

  it("stops reading an endless body just past the limit", async () => {
    const { res, pulled } = streamed(1_000_000, 1024);
    await expect(readCapped(res, 64 * 1024)).rejects.toBeInstanceOf(BodyTooLargeError);
    // One chunk past the limit, plus what the stream had queued: never the million.
    expect(pulled()).toBeLessThan(80);
  });

  it("refuses a declared length over the limit without reading", async () => {
    const { res, pulled } = streamed(10, 10, { "content-length": "100" });
    await expect(readCapped(res, 50)).rejects.toThrow("larger than the 50-byte limit");
    expect(pulled()).toBeLessThanOrEqual(1);
  });
});

describe("readCapped with a stall bound", () => {
  it("gives up on a body that stops sending", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([1, 2, 3])); // then nothing, ever
      },
    });
    await expect(readCapped(new Response(body), 1024, { stallMs: 100 })).rejects.toThrow(
      "the response sent nothing for 0.1 s",
    );
  });
});

describe("bodyChunks", () => {
  it("counts only the wait for the peer: a slow consumer of a live body is not a stall", async () => {
    const { res } = streamed(4, 8);
    const seen: number[] = [];
    for await (const chunk of bodyChunks(res, { stallMs: 50 })) {
      seen.push(chunk.length);
      await new Promise((resolve) => setTimeout(resolve, 120)); // longer than the bound
    }
    expect(seen).toEqual([8, 8, 8, 8]);
  });

  it("cancels the body when the consumer stops early", async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(16));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const chunk of bodyChunks(new Response(body))) {
      expect(chunk.length).toBe(16);
      break;
    }
    expect(cancelled).toBe(true);
  });
});
