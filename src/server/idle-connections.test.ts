/**
 * Idle keep-alive connections are closed by the server's sweep (Node's per-response keep-alive
 * timer is off): on the registry server over plain HTTP and over TLS, with real sockets, and a
 * request that runs longer than the timeout is never cut.
 */
import { createServer, type Server } from "node:http";
import { connect as connectTcp, type AddressInfo, type Socket } from "node:net";
import { rm } from "node:fs/promises";
import { connect as connectTls } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { closeIdleConnections, requestFinished, requestStarted } from "./idle-connections.js";
import { startRegistryServer, type RunningRegistry } from "./start.js";
import { makeAppRepo, type AppRepo } from "./testing/fixture.js";
import { selfSignedCert } from "../../test/helpers/tls.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const TIMEOUT_MS = 400;
const keepAlive = { timeoutMs: TIMEOUT_MS, everyMs: 50 };

interface Client {
  socket: Socket;
  /** Sends a GET and resolves with the status once the whole response (by Content-Length) arrived. */
  get(path: string): Promise<number>;
  /** Resolves with performance.now() when the server closed the connection. */
  closed: Promise<number>;
}

function client(socket: Socket): Client {
  let buffered = "";
  let waiting: ((status: number) => void) | undefined;
  socket.setEncoding("utf8");
  socket.on("data", (text: string) => {
    buffered += text;
    const end = buffered.indexOf("\r\n\r\n");
    if (end < 0 || waiting === undefined) return;
    const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
    if (buffered.length < end + 4 + length) return;
    const status = Number(buffered.slice(9, 12));
    buffered = buffered.slice(end + 4 + length);
    const done = waiting;
    waiting = undefined;
    done(status);
  });
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(performance.now())));
  return {
    socket,
    closed,
    get: (path) =>
      new Promise<number>((resolve) => {
        waiting = resolve;
        socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`);
      }),
  };
}

const openTcp = (port: number) =>
  new Promise<Client>((resolve, reject) => {
    const socket = connectTcp(port, "127.0.0.1", () => resolve(client(socket)));
    socket.once("error", reject);
  });

/** The server closes `c` once it has been idle (since `idleFrom`) for the timeout, not long after. */
async function closedAfterIdle(c: Client, idleFrom: number): Promise<void> {
  const idle = (await c.closed) - idleFrom;
  expect(idle).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
  expect(idle).toBeLessThan(TIMEOUT_MS + 1500);
}

let cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function registry(extraConfig = ""): Promise<{ server: RunningRegistry; repo: AppRepo }> {
  const repo = await makeAppRepo(
    (p) =>
      `[general]\ndata_dir: data\n[serve_content]\nenable: false\ncontent_dir_v1: ${p.contentV1}\ncontent_dir_v2: content/v2\n[raas]\nmanifest_dir = manifests\n${extraConfig}`,
  );
  cleanups.push(() => repo.cleanup());
  const server = await startRegistryServer({
    configPath: repo.configPath,
    host: "127.0.0.1",
    port: 0,
    log: () => {},
    keepAlive,
  });
  cleanups.push(() => server.close());
  return { server, repo };
}

describe("idle keep-alive connections", () => {
  it("are reused while active and closed by the registry once idle past the timeout", async () => {
    const { server } = await registry();
    const c = await openTcp(server.port);
    expect(await c.get("/v2/")).toBe(200);
    // Active connections stay open: three requests spread over more than the timeout.
    for (let i = 0; i < 3; i++) {
      await sleep(TIMEOUT_MS / 2);
      expect(await c.get("/v2/")).toBe(200);
    }
    await closedAfterIdle(c, performance.now());
  });

  it("closes a connection that never sent a request, after the same timeout", async () => {
    const { server } = await registry();
    const openedAt = performance.now();
    await closedAfterIdle(await openTcp(server.port), openedAt);
  });

  it("closes idle connections over TLS too", async () => {
    const dir = (await makeAppRepo(() => "")).root;
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { certPath, keyPath, cert: ca } = await selfSignedCert(dir);
    const { server } = await registry(`tls_cert = ${certPath}\ntls_key = ${keyPath}\n`);
    const c = await new Promise<Client>((resolve, reject) => {
      const socket = connectTls({ host: "127.0.0.1", port: server.port, ca }, () => resolve(client(socket)));
      socket.once("error", reject);
    });
    expect(await c.get("/v2/")).toBe(200);
    await closedAfterIdle(c, performance.now());
  });

  it("never cuts a request that runs longer than the timeout", async () => {
    // A bare server wired the way the registry's handler is, with one slow route.
    const server: Server = createServer({ keepAliveTimeout: 0 }, (req, res) => {
      requestStarted(req.socket);
      res.on("finish", () => requestFinished(req.socket, performance.now()));
      setTimeout(() => res.end("done"), req.url === "/slow" ? TIMEOUT_MS * 3 : 0);
    });
    const stop = closeIdleConnections(server, keepAlive);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(async () => {
      stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const c = await openTcp((server.address() as AddressInfo).port);
    expect(await c.get("/slow")).toBe(200);
    // Then idle like any other: closed after the timeout.
    await closedAfterIdle(c, performance.now());
  });
});
