/**
 * A vendor location is a server raas does not control: a layer that inflates without end, an
 * image json that never stops, a body that stalls. Each is refused with the URL and the reason,
 * against a real HTTP server on loopback.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchImageJson, fetchLayerDescriptor } from "./vendor-fetch.js";

const MiB = 1024 * 1024;

describe("vendor fetches are bounded", () => {
  let server: Server;
  let base: string;
  // 64 MiB of zeros gzip to about 64 KiB: a small bomb.
  const bomb = gzipSync(Buffer.alloc(64 * MiB));
  const small = gzipSync(Buffer.from("a tar would be here"));

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/bomb/layer") return res.end(bomb);
      if (req.url === "/small/layer") return res.end(small);
      if (req.url === "/endless/json") {
        // No Content-Length, and more bytes than any image json: streamed until the client stops.
        res.writeHead(200, { "content-type": "application/json" });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const pump = (): void => {
          while (res.write(chunk));
          res.once("drain", pump);
        };
        res.write("{");
        pump();
        res.on("close", () => res.removeAllListeners("drain"));
        return;
      }
      if (req.url === "/stall/layer") {
        res.writeHead(200);
        res.write(small.subarray(0, 4)); // then nothing, forever
        return;
      }
      if (req.url === "/stall/json") {
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"id": '); // then nothing, forever
        return;
      }
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("describes a genuine layer", async () => {
    const d = await fetchLayerDescriptor(`${base}/small/layer`, { maxInflated: MiB });
    expect(d.size).toBe(small.length);
    expect(d.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("refuses a layer that inflates past max_inflated_layer, naming the URL and the limit", async () => {
    await expect(fetchLayerDescriptor(`${base}/bomb/layer`, { maxInflated: 8 * MiB })).rejects.toThrow(
      new RegExp(`vendor layer ${base}/bomb/layer inflates to more than ${8 * MiB} bytes`),
    );
  });

  it("refuses an image json that does not end, after reading at most its limit", async () => {
    const rss = process.memoryUsage().rss;
    await expect(fetchImageJson(`${base}/endless/json`)).rejects.toThrow(
      /vendor image json .*\/endless\/json: the response is larger than the 1048576-byte limit/,
    );
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 * MiB);
  });

  it("gives up on a layer whose body stalls", async () => {
    await expect(
      fetchLayerDescriptor(`${base}/stall/layer`, { maxInflated: MiB, stallMs: 300 }),
    ).rejects.toThrow(/vendor layer .*\/stall\/layer .*sent nothing for 0.3 s/);
  });

  it("gives up on an image json whose body stalls, by the same bound", async () => {
    await expect(fetchImageJson(`${base}/stall/json`, { stallMs: 300 })).rejects.toThrow(
      /vendor image json .*\/stall\/json: the response sent nothing for 0.3 s/,
    );
  });
});
