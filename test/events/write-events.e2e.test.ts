/**
 * Events of the registry's write API and windowed pull events, with real processes: the
 * registry (push API on, an events endpoint) and a collector started here. A manifest PUT sends
 * a `push` event, a cross-repository mount a `mount` event with `target.fromRepository`, manifest
 * GETs `pull` events (stored once per window per worker); pulls answered just before a SIGTERM
 * are stored at shutdown and delivered after the restart.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  pushApiRepo,
  startCollector,
  startRegistryProcess,
  writePushApiConf,
  type Collector,
  type RegistryProcess,
} from "../helpers/push-api-server.js";
import { imageManifest } from "../helpers/oci-manifest.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const OCI = "application/vnd.oci.image.manifest.v1+json";

let root: string;
let conf: string;
let server: RegistryProcess | undefined;
let base: string;
let collector: Collector | undefined;
const received = () => collector?.received ?? [];

async function startServer(): Promise<void> {
  server = await startRegistryProcess(conf);
  base = server.url;
}

async function stopServer(): Promise<void> {
  await server?.stop();
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
  collector = await startCollector();
  conf = await writePushApiConf({
    root,
    repo: await pushApiRepo(root),
    workers: 2,
    raas: ["events_poll = 200ms"],
    sections: ["[events.collector]", `url = ${collector.url}`, "timeout = 2s", "pull_window = 300ms"],
  });
  await startServer();
}, 180_000);

afterAll(async () => {
  await stopServer();
  await collector?.close();
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
    const manifest = imageManifest(config, layer);
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

    const pushEvent = await until("the push event", () => received().find((e) => e.action === "push"));
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
    const mountEvent = await until("the mount event", () => received().find((e) => e.action === "mount"));
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
      const p = received().filter((e) => e.action === "pull");
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
      const p = received().filter((e) => e.action === "pull");
      return p.length >= 7 ? p : undefined;
    });
    expect(all.filter((e) => e.target.tag === undefined)).toHaveLength(4);
    expect(new Set(received().map((e) => e.id)).size).toBe(received().length);
  }, 120_000);
});
