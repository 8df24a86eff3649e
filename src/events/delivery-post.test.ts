/**
 * How a delivery POST ends, against real servers on loopback: which answers count as delivered,
 * what a failure is called (it lands in /metrics, `raas status` and the log), and that an https
 * endpoint's certificate is verified.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import type { AddressInfo, Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { selfSignedCert } from "../../test/helpers/tls.js";
import { LocalStore } from "../storage/local.js";
import type { EndpointConfig } from "./config.js";
import { testEndpoint as endpoint } from "./testing/endpoint.js";
import { Dispatcher } from "./deliver.js";
import { makeEvent, type RegistryEvent } from "./envelope.js";
import { Outbox } from "./outbox.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "raas-events-post-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(
    () =>
      new Promise((r) => {
        (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => r());
      }),
  );
  return (server.address() as AddressInfo).port;
}

const event = (tag: string): RegistryEvent =>
  makeEvent({
    action: "push",
    target: {
      mediaType: "m",
      size: 1,
      digest: `sha256:${"a".repeat(64)}`,
      repository: "acme/app",
      url: "/x",
      tag,
    },
    source: { addr: "", instanceID: "test" },
  });

/** One pass of a dispatcher over one stored event; the endpoint's state afterwards. */
async function deliverOnce(endpointConfig: EndpointConfig) {
  const store = new LocalStore(await tempDir());
  await new Outbox(store, "p1").record(event("1"));
  const d = new Dispatcher({ store, endpoints: [endpointConfig], owner: "a", settleMs: 5 });
  await d.pass();
  await d.stop();
  return d.snapshot()[0];
}

describe("a delivery POST", () => {
  it("sends the envelope with its media type and length, and counts a redirect as delivered without following it", async () => {
    const seen: { type?: string; length?: string; body: string }[] = [];
    let followed = 0;
    const port = await listen(
      createHttpServer((req: IncomingMessage, res: ServerResponse) => {
        if (req.url === "/elsewhere") {
          followed++;
          return void res.end();
        }
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          seen.push({
            type: req.headers["content-type"],
            length: req.headers["content-length"],
            body: Buffer.concat(chunks).toString(),
          });
          res.writeHead(302, { Location: "/elsewhere" }).end("a body the dispatcher drops");
        });
      }),
    );
    const state = await deliverOnce(endpoint(`http://127.0.0.1:${port}/events`));
    expect(state).toMatchObject({ delivered: 1, failures: 0, backlog: 0 });
    expect(followed).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.type).toBe("application/vnd.docker.distribution.events.v2+json");
    expect(Number(seen[0]?.length)).toBe(Buffer.byteLength(seen[0]?.body ?? ""));
    expect((JSON.parse(seen[0]?.body ?? "") as { events: RegistryEvent[] }).events[0]?.target.tag).toBe("1");
  });

  it("fails on 4xx and 5xx, on a refused connection, and on an endpoint that does not answer in time", async () => {
    for (const status of [404, 500]) {
      const port = await listen(createHttpServer((_req, res) => void res.writeHead(status).end()));
      expect(await deliverOnce(endpoint(`http://127.0.0.1:${port}/`))).toMatchObject({
        delivered: 0,
        failures: 1,
        lastError: `HTTP ${status}`,
      });
    }
    // A port nothing listens on any more.
    const closed = createHttpServer();
    const gone = await new Promise<number>((r) =>
      closed.listen(0, "127.0.0.1", () => r((closed.address() as AddressInfo).port)),
    );
    await new Promise((r) => closed.close(r));
    const refused = await deliverOnce(endpoint(`http://127.0.0.1:${gone}/`));
    expect(refused?.lastError).toMatch(/ECONNREFUSED/);
    const silent = await listen(createHttpServer(() => undefined)); // reads, never answers
    const started = Date.now();
    const late = await deliverOnce(endpoint(`http://127.0.0.1:${silent}/`, { timeoutMs: 300 }));
    expect(late).toMatchObject({ delivered: 0, failures: 1, lastError: "no answer within 0.3 s" });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("never sends a user or password written into the URL (the configuration refuses such a URL)", async () => {
    let asked = 0;
    const port = await listen(
      createHttpServer((_req, res) => {
        asked++;
        res.end();
      }),
    );
    const state = await deliverOnce(endpoint(`http://alice:hunter2@127.0.0.1:${port}/`));
    expect(state).toMatchObject({
      delivered: 0,
      failures: 1,
      lastError: "the URL carries a user or password: not sent",
    });
    expect(asked).toBe(0);
  });

  it("reports a header value HTTP cannot carry as the endpoint's error, without throwing", async () => {
    const port = await listen(createHttpServer((_req, res) => void res.end()));
    const state = await deliverOnce(
      endpoint(`http://127.0.0.1:${port}/`, { headers: { "X-Token": "a\nb" } }),
    );
    expect(state).toMatchObject({ delivered: 0, failures: 1 });
    expect(state?.lastError).toMatch(/X-Token/);
  });

  it("verifies an https endpoint's certificate: a self-signed one is refused", async () => {
    const { keyPath, cert } = await selfSignedCert(await tempDir());
    let posts = 0;
    const server = createHttpsServer({ key: await readFile(keyPath), cert }, (_req, res) => {
      posts++;
      res.end();
    });
    const port = await listen(server);
    const state = await deliverOnce(endpoint(`https://127.0.0.1:${port}/`));
    expect(state).toMatchObject({ delivered: 0, failures: 1 });
    expect(state?.lastError).toMatch(/self-signed certificate/);
    expect(posts).toBe(0);
  });
});
