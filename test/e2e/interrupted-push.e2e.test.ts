/**
 * Ctrl-C during the upload of a push (the real binary, `node bin/raas.js`, as a user runs it):
 * the upload stops, nothing is committed to the app repository, nothing of the image becomes an
 * object, and raas exits 130 — on local storage and on S3 (s3rver on loopback).
 *
 * Deterministic, not timing-lucky: the image comes from a `docker://` upstream in this file that
 * sends half of the layer and then holds the rest back. The signal is sent while the upload
 * waits for those bytes. Only if raas has not ended the upload 2 s after it said it was
 * stopping are the bytes released; a raas that does not stop then finishes the upload and
 * commits well inside its 3 s grace, which the test sees in the app repository.
 */
import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobKey, manifestKey } from "../../src/crane/keys.js";
import { LocalStore } from "../../src/storage/local.js";
import { S3Store } from "../../src/storage/s3.js";
import type { BlobStore } from "../../src/storage/types.js";
import { cliEnv, reservePort, runCli } from "../helpers/cli.js";
import { s3RaasConfig, startS3rver, type RunningS3rver } from "../helpers/s3rver.js";

const BIN = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "raas.js");
const run = promisify(execFile);
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** Below S3's default part size: the whole layer is gathered before its one PutObject. */
const LAYER_SIZE = 12 * 1024 * 1024;
const BUCKET = "intr-s3-images";

const sha256 = (bytes: Buffer): `sha256:${string}` =>
  `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/** A v2 registry serving one image (`up/app:1`) whose layer stops halfway until released. */
interface GatedUpstream {
  host: string;
  layerDigest: string;
  /** Resolves once half of the layer is on the wire and the rest is held back. */
  halfSent: Promise<void>;
  /** Resolves when the layer's connection is gone, with whether every byte was sent. */
  layerEnded: Promise<{ complete: boolean }>;
  release(): void;
  close(): Promise<void>;
}

async function startGatedUpstream(): Promise<GatedUpstream> {
  const layer = randomBytes(LAYER_SIZE);
  const layerDigest = sha256(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [layerDigest] },
      config: {},
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layerDigest, size: layer.length },
      ],
    }),
  );
  let onHalf: () => void = () => undefined;
  const halfSent = new Promise<void>((resolve) => (onHalf = resolve));
  let onEnded: (ended: { complete: boolean }) => void = () => undefined;
  const layerEnded = new Promise<{ complete: boolean }>((resolve) => (onEnded = resolve));
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));

  const send = (res: ServerResponse, type: string, body: Buffer, head: boolean) => {
    res.writeHead(200, {
      "Content-Type": type,
      "Content-Length": body.length,
      "Docker-Content-Digest": sha256(body),
    });
    res.end(head ? undefined : body);
  };
  const server: Server = createServer((req, res) => {
    const head = req.method === "HEAD";
    const url = req.url ?? "";
    if (url === "/v2/") return send(res, "application/json", Buffer.from("{}"), head);
    if (url === "/v2/up/app/manifests/1" || url === `/v2/up/app/manifests/${sha256(manifest)}`) {
      return send(res, OCI_MANIFEST, manifest, head);
    }
    if (url === `/v2/up/app/blobs/${sha256(config)}`) {
      return send(res, "application/octet-stream", config, head);
    }
    if (url === `/v2/up/app/blobs/${layerDigest}`) {
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": layer.length });
      res.on("close", () => onEnded({ complete: res.writableFinished }));
      res.write(layer.subarray(0, layer.length / 2), () => onHalf());
      void released.then(() => {
        if (!res.destroyed) res.end(layer.subarray(layer.length / 2));
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    layerDigest,
    halfSent,
    layerEnded,
    release,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Ended {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Push from the gated upstream, SIGINT once the upload waits for the held-back half. */
async function interruptedPush(
  upstream: GatedUpstream,
  isv: string,
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<Ended & { layer: { complete: boolean } }> {
  const args = [BIN, "push", isv, `docker://${upstream.host}/up/app:1`, "--src-tls-verify", "false"];
  const child = spawn(process.execPath, [...args, "--name", "sig/gated", "--no-wait"], {
    ...options,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  let stopping: () => void = () => undefined;
  const saidStopping = new Promise<void>((resolve) => (stopping = resolve));
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
    if (stderr.includes("interrupted by SIGINT")) stopping();
  });
  const limit = setTimeout(() => child.pid !== undefined && process.kill(-child.pid, "SIGKILL"), 60_000);
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));

  await upstream.halfSent;
  child.kill("SIGINT");
  await saidStopping;
  // A raas that stops ends the layer's connection at once; one that does not gets its bytes.
  const cut = await Promise.race([
    upstream.layerEnded,
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2000)),
  ]);
  if (cut === undefined) upstream.release();
  const code = await exited;
  clearTimeout(limit);
  upstream.release();
  return { code, stdout, stderr, layer: await upstream.layerEnded };
}

async function head(gitDir: string): Promise<string> {
  const { stdout } = await run("git", ["--git-dir", gitDir, "rev-parse", "HEAD"]);
  return stdout.trim();
}

/** What an interrupted push may leave in storage: no manifest, tag or layer of the image. */
async function imageObjects(store: BlobStore, layerDigest: string): Promise<string[]> {
  const keys = [
    manifestKey("sig-gated", OCI_MANIFEST, "1"),
    blobKey("sig-gated", layerDigest as `sha256:${string}`),
  ];
  const found: string[] = [];
  for (const key of keys) if ((await store.head(key)) !== undefined) found.push(key);
  return found;
}

describe("SIGINT during the upload of a push (real binary)", () => {
  let work: string;
  let s3: RunningS3rver;
  const upstreams: GatedUpstream[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-interrupt-"));
    s3 = await startS3rver({ buckets: [BUCKET] });
  });

  afterAll(async () => {
    for (const upstream of upstreams) await upstream.close();
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  for (const backend of ["local", "s3"] as const) {
    it(`stops the upload and commits nothing, exit 130 (${backend} storage)`, async () => {
      const isv = `intr${backend}`;
      const cwd = join(work, backend);
      const env = cliEnv(join(cwd, "home"));
      await reservePort(join(cwd, "home", "raas"), isv);
      await mkdir(cwd, { recursive: true });
      // S3: a raas.cfg in the working directory, read by setup and by the push alike.
      if (backend === "s3") {
        await writeFile(
          join(cwd, "raas.cfg"),
          s3RaasConfig({ endpoint: s3.endpoint, credentials: s3.credentials, isv, bucket: BUCKET }),
        );
      }
      const setup = await runCli(["setup", isv, "--no-start"], { cwd, env });
      expect(setup.code, setup.stdout + setup.stderr).toBe(0);
      const app = join(cwd, "home", "raas", isv, "app.git");
      const before = await head(app);

      const upstream = await startGatedUpstream();
      upstreams.push(upstream);
      const ended = await interruptedPush(upstream, isv, { cwd, env });
      const output = ended.stdout + ended.stderr;

      // Nothing committed: the registry serves what it served before.
      expect(await head(app), output).toBe(before);
      expect(output).not.toContain("Committed");
      expect(ended.code, output).toBe(130);
      expect(ended.stderr).toContain("interrupted by SIGINT; nothing was committed");
      // The upload stopped: raas closed the layer's connection before it had every byte.
      expect(ended.layer.complete, output).toBe(false);
      const store: BlobStore =
        backend === "local"
          ? new LocalStore(join(cwd, "home", "raas", isv, "storage"))
          : new S3Store({ bucket: BUCKET, endpoint: s3.endpoint, credentials: s3.credentials });
      try {
        expect(await imageObjects(store, upstream.layerDigest)).toEqual([]);
      } finally {
        await store.close();
      }
    }, 90_000);
  }
});
