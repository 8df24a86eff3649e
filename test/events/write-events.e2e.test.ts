/**
 * Events of the registry's write API and windowed pull events, with real processes: the
 * registry (push API on, an events endpoint) and a collector started here. A manifest PUT sends
 * a `push` event, a cross-repository mount a `mount` event with `target.fromRepository`, manifest
 * GETs `pull` events (stored once per window per worker); pulls answered just before a SIGTERM
 * are stored at shutdown and delivered after the restart.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../src/adapters/package-root.js";
import type { RegistryEvent } from "../../src/events/envelope.js";
import { deployedAppRemote } from "../helpers/git.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const OCI = "application/vnd.oci.image.manifest.v1+json";

let root: string;
let conf: string;
let server: ChildProcess | undefined;
let base: string;
let collector: Server;
const received: RegistryEvent[] = [];

async function startServer(): Promise<void> {
  const proc = spawn(
    process.execPath,
    [
      join(packageRoot(), "dist/server-bundle/main.js"),
      "--config",
      conf,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const lines = createInterface({ input: proc.stdout });
  base = await new Promise<string>((resolve, reject) => {
    proc.once("exit", (code) => reject(new Error(`server exited ${code}`)));
    lines.on("line", (line) => {
      const record = JSON.parse(line) as { event?: string; url?: string };
      if (record.event === "listening" && record.url !== undefined) resolve(record.url);
    });
  });
  server = proc;
}

async function stopServer(): Promise<void> {
  const proc = server;
  if (proc === undefined || proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGTERM");
  await exited;
  server = undefined;
}

async function until<T>(what: string, check: () => T | undefined, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "raas-write-events-"));
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push(
        ...(JSON.parse(Buffer.concat(chunks).toString("utf8")) as { events: RegistryEvent[] }).events,
      );
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
  const store = join(root, "store");
  await mkdir(join(store, "v1"), { recursive: true });
  await mkdir(join(store, "v2"), { recursive: true });
  const app = await deployedAppRemote(root);
  conf = join(root, "registry.conf");
  await writeFile(
    conf,
    [
      "[general]",
      `data_dir = ${app.deploy}/data`,
      "data_dir_polling_interval = 0.5",
      "[serve_content]",
      "enable = true",
      `content_dir_v1 = ${store}/v1`,
      `content_dir_v2 = ${store}/v2`,
      "use_x_sendfile = false",
      "[raas]",
      `manifest_dir = ${app.deploy}/manifests`,
      "isv = acme",
      "workers = 2",
      "events_poll = 200ms",
      "[push]",
      "enable = true",
      "unauthenticated_loopback = true",
      `app_remote = ${app.remote}`,
      `clone_dir = ${root}/clones`,
      "[events.collector]",
      `url = http://127.0.0.1:${(collector.address() as AddressInfo).port}/events`,
      "timeout = 2s",
      "pull_window = 300ms",
      "",
    ].join("\n"),
  );
  await startServer();
}, 180_000);

afterAll(async () => {
  await stopServer();
  await new Promise<void>((r) => collector.close(() => r()));
  await rm(root, { recursive: true, force: true });
});

const basic = { Authorization: `Basic ${Buffer.from("alice:secret").toString("base64")}` };
const req = (path: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, { ...init, headers: { ...basic, ...(init.headers as Record<string, string>) } });

describe("events of the write API and windowed pull events", () => {
  it("sends push, mount (with fromRepository) and pull events; pulls just before a restart are not lost", async () => {
    const config = Buffer.from(
      JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }),
    );
    const layer = Buffer.from("layer bytes for events");
    for (const blob of [config, layer]) {
      const res = await req(`/v2/acme/web/blobs/uploads/?digest=${sha(blob)}`, {
        method: "POST",
        body: new Uint8Array(blob),
      });
      expect(res.status).toBe(201);
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI,
        config: {
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest: sha(config),
          size: config.length,
        },
        layers: [
          { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha(layer), size: layer.length },
        ],
      }),
    );
    const put = await req("/v2/acme/web/manifests/v1", {
      method: "PUT",
      body: manifest,
      headers: { "Content-Type": OCI },
    });
    expect(put.status).toBe(201);
    const mounted = await req(`/v2/acme/copy/blobs/uploads/?mount=${sha(layer)}&from=acme/web`, {
      method: "POST",
    });
    expect(mounted.status).toBe(201);

    const pushEvent = await until("the push event", () => received.find((e) => e.action === "push"));
    expect(pushEvent).toMatchObject({
      target: {
        repository: "acme/web",
        tag: "v1",
        digest: sha(manifest),
        mediaType: OCI,
        size: manifest.length,
      },
      request: { method: "PUT" },
      actor: { name: "alice" },
    });
    const mountEvent = await until("the mount event", () => received.find((e) => e.action === "mount"));
    expect(mountEvent.target).toEqual({
      mediaType: "application/octet-stream",
      size: layer.length,
      length: layer.length,
      digest: sha(layer),
      repository: "acme/copy",
      url: `/v2/acme/copy/blobs/${sha(layer)}`,
      fromRepository: "acme/web",
    });
    expect(mountEvent.actor).toEqual({ name: "alice" });

    for (let i = 0; i < 3; i++) {
      const got = await req("/v2/acme/web/manifests/v1", { headers: { Accept: OCI } });
      expect(got.status).toBe(200);
      await got.arrayBuffer();
    }
    const pulls = await until("3 pull events", () => {
      const p = received.filter((e) => e.action === "pull");
      return p.length >= 3 ? p : undefined;
    });
    expect(pulls).toHaveLength(3);
    for (const e of pulls) {
      expect(e.target).toMatchObject({ repository: "acme/web", tag: "v1", digest: sha(manifest) });
    }

    // Four pulls, then SIGTERM at once (inside the window): shutdown stores them, the restarted
    // registry delivers them.
    for (let i = 0; i < 4; i++) {
      const got = await req(`/v2/acme/web/manifests/${sha(manifest)}`, { headers: { Accept: OCI } });
      expect(got.status).toBe(200);
      await got.arrayBuffer();
    }
    await stopServer();
    await startServer();
    const all = await until("7 pull events", () => {
      const p = received.filter((e) => e.action === "pull");
      return p.length >= 7 ? p : undefined;
    });
    expect(all.filter((e) => e.target.tag === undefined)).toHaveLength(4);
    expect(new Set(received.map((e) => e.id)).size).toBe(received.length);
  }, 120_000);
});
