/**
 * Promotion between environments with buckets of their own, on S3 (s3rver on loopback): the
 * blobs are copied inside the S3 service (CopyObject), never through raas. Every byte between
 * raas and S3 passes a counting proxy: the promotion of a 3 MiB image moves a few KiB of
 * requests, manifests and tag objects, and the image then pulls by digest from the target.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { buildOciLayout, type BuiltImage } from "../helpers/image-builder.js";
import { s3RaasConfig, startS3rver, type RunningS3rver } from "../helpers/s3rver.js";
import { skopeoCopy, skopeoInspectDigest, verifyOciDir } from "../helpers/skopeo.js";

const ISV = "envb";
const LAYER = 1024 * 1024;

/** A TCP proxy that counts every byte in both directions. */
async function countingProxy(targetPort: number) {
  let bytes = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
    client.on("data", (c: Buffer) => (bytes += c.length));
    upstream.on("data", (c: Buffer) => (bytes += c.length));
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bytes: () => bytes,
    reset: () => (bytes = 0),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

describe("promotion between buckets of their own (S3 on loopback)", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let s3: RunningS3rver;
  let proxy: Awaited<ReturnType<typeof countingProxy>>;
  let image: BuiltImage;
  const hosts: Record<string, string> = {};

  const home = () => join(work, "home", "raas");
  const raas = (...args: string[]) => runCli(args, { cwd: work, env });
  const keys = async (bucket: string) => {
    const xml = await (await fetch(`${s3.endpoint}/${bucket}?list-type=2`)).text();
    return [...xml.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1] ?? "").sort();
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-envb-"));
    env = cliEnv(join(work, "home"));
    s3 = await startS3rver({ buckets: ["envb-images", "envb-prod"] });
    proxy = await countingProxy(s3.port);
    for (const e of ["test", "prod"]) hosts[e] = `127.0.0.1:${await reservePort(home(), `${ISV}.${e}`)}`;
    await writeFile(
      join(work, "raas.cfg"),
      s3RaasConfig({
        endpoint: proxy.endpoint,
        credentials: s3.credentials,
        isv: ISV,
        bucket: "envb-images",
        extra: ["environments = test prod", `[${ISV}.prod]`, "s3_bucket = envb-prod"],
      }),
    );
    const setup = await raas("setup", ISV);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    image = await buildOciLayout(join(work, "app.tar"), {
      name: "acme/app",
      tag: "2.0",
      layers: 3,
      layerSize: LAYER,
      gzip: false,
    });
  }, 300_000);

  afterAll(async () => {
    for (const e of ["test", "prod"]) await stopBackgroundServer(home(), `${ISV}.${e}`);
    await proxy.stop();
    await s3.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("copies the blobs server-side: almost nothing passes through raas", async () => {
    const push = await raas("push", ISV, image.path, "--env", "test", "--json");
    expect(push.code, push.stdout + push.stderr).toBe(0);
    const digest = (JSON.parse(push.stdout) as { images: { digest: string }[] }).images[0]?.digest ?? "";
    expect((await keys("envb-prod")).filter((k) => k.includes("/blobs/"))).toEqual([]);

    const plan = await raas(
      "promote",
      ISV,
      "acme/app:2.0",
      "--from",
      "test",
      "--to",
      "prod",
      "--plan",
      "--json",
    );
    expect(plan.code, plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout)).toMatchObject({ copyMode: "server-side", blobs: { copied: 4 } });
    expect((await keys("envb-prod")).filter((k) => k.startsWith("acme-app/"))).toEqual([]);

    proxy.reset();
    const done = await raas("promote", ISV, "acme/app:2.0", "--from", "test", "--to", "prod", "--json");
    const through = proxy.bytes();
    expect(done.code, done.stdout + done.stderr).toBe(0);
    const result = JSON.parse(done.stdout) as {
      digest: string;
      copyMode: string;
      blobs: { copied: number; copiedBytes: number };
    };
    expect(result).toMatchObject({ digest, copyMode: "server-side" });
    expect(result.blobs.copied).toBe(4); // three layers and the config
    expect(result.blobs.copiedBytes).toBeGreaterThan(3 * LAYER);
    // Requests, a manifest, tag objects: a few KiB against more than 3 MiB copied.
    expect(through).toBeLessThan(64 * 1024);

    const prodKeys = await keys("envb-prod");
    for (const layer of image.manifests[0]?.layers ?? []) {
      expect(prodKeys).toContain(`acme-app/blobs/${layer.digest}`);
    }
    expect(await skopeoInspectDigest(`${hosts.prod}/acme/app:2.0`)).toBe(digest);
    const dir = await mkdtemp(join(work, "pull-"));
    // skopeo compresses the uncompressed layers on the way; the diff_ids prove the content.
    await skopeoCopy(`${hosts.prod}/acme/app@${digest}`, `oci:${dir}`);
    expect((await verifyOciDir(dir)).diffIds).toEqual(image.manifests[0]?.layers.map((l) => l.diffId));
  });
});
