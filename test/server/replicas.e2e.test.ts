/**
 * Two registry replicas, A (two workers) and B (one), on one storage and one bare git remote,
 * both following the app repository ([metadata] follow): what one takes, the other serves
 * within seconds; concurrent pushes through both lose no tag; a replica killed in the middle
 * of a chunked upload loses nothing the client cannot finish on the other.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../src/adapters/package-root.js";
import { deployedAppRemote, gitOut } from "../helpers/git.js";
import { writeOciLayoutDir } from "../helpers/image-builder.js";
import { verifyOciDir } from "../helpers/skopeo.js";

const run = promisify(execFile);
const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

let root: string;
let remote: string;
const replicas: { a?: Replica; b?: Replica } = {};

interface Replica {
  proc: ChildProcess;
  url: string;
  records: Record<string, unknown>[];
}

async function startReplica(name: string, workers: number): Promise<Replica> {
  const conf = join(root, `${name}.conf`);
  await writeFile(
    conf,
    [
      "[general]",
      // Never read in follow mode: the metadata comes from the followed repository.
      `data_dir = ${root}/nowhere/data`,
      "[serve_content]",
      "enable = true",
      `content_dir_v1 = ${root}/store/v1`,
      `content_dir_v2 = ${root}/store/v2`,
      "use_x_sendfile = false",
      "[raas]",
      "isv = acme",
      `workers = ${workers}`,
      "[metadata]",
      `follow = ${remote}`,
      "follow_interval = 1",
      `follow_dir = ${root}/${name}-follow`,
      "[push]",
      "enable = true",
      "unauthenticated_loopback = true",
      `app_remote = ${remote}`,
      `clone_dir = ${root}/${name}-clones`,
      "",
    ].join("\n"),
  );
  // Its own process group, so that killing A kills its primary and workers at once.
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
    { stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  const records: Record<string, unknown>[] = [];
  const lines = createInterface({ input: proc.stdout });
  let stderr = "";
  proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    proc.once("exit", (code) => reject(new Error(`replica ${name} exited ${code}: ${stderr}`)));
    lines.on("line", (line) => {
      const record = JSON.parse(line) as Record<string, unknown>;
      records.push(record);
      if (record.event === "listening" && typeof record.url === "string") resolve(record.url);
    });
  });
  return { proc, url, records };
}

function killGroup(replica: Replica | undefined, signal: NodeJS.Signals): void {
  const pid = replica?.proc.pid;
  if (pid === undefined || replica?.proc.exitCode !== null) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "raas-replicas-"));
  await mkdir(join(root, "store", "v1"), { recursive: true });
  await mkdir(join(root, "store", "v2"), { recursive: true });
  remote = (await deployedAppRemote(root)).remote;
  [replicas.a, replicas.b] = await Promise.all([startReplica("a", 2), startReplica("b", 1)]);
}, 120_000);

afterAll(async () => {
  killGroup(replicas.a, "SIGKILL");
  killGroup(replicas.b, "SIGKILL");
  await rm(root, { recursive: true, force: true });
});

const basic = (user: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:pw`).toString("base64")}` });
const on = (replica: Replica | undefined, path: string, init: RequestInit = {}, user = "alice") =>
  fetch(`${replica!.url}${path}`, {
    ...init,
    headers: { ...basic(user), ...(init.headers as Record<string, string>) },
  });

async function eventually(what: string, ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check()) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

const served = async (replica: Replica | undefined, name: string, ref: string, digest?: string) => {
  const res = await fetch(`${replica!.url}/v2/${name}/manifests/${ref}`, {
    method: "HEAD",
    headers: {
      Accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
    },
  });
  return res.status === 200 && (digest === undefined || res.headers.get("docker-content-digest") === digest);
};

async function pushBlob(replica: Replica | undefined, name: string, bytes: Buffer): Promise<string> {
  const digest = sha(bytes);
  const res = await on(replica, `/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: "POST",
    body: new Uint8Array(bytes),
  });
  expect(res.status).toBe(201);
  return digest;
}

function manifestFor(config: Buffer, layer: Buffer): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
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
}

const configBlob = (note: string) =>
  Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Labels: { note } },
      rootfs: { type: "layers", diff_ids: [] },
    }),
  );

const skopeo = (args: string[]) => run("skopeo", args, { timeout: 120_000 });
const hostOf = (replica: Replica | undefined) => replica!.url.replace(/^http:\/\//, "");

describe("two replicas on one storage and one git remote", () => {
  it("skopeo pushes through A; A serves it at once, B by tag and digest within seconds, every blob verified", async () => {
    const src = join(root, "src");
    await writeOciLayoutDir(src, {
      name: "acme/shared",
      tag: "1.0",
      layers: 2,
      gzip: true,
      annotations: "skopeo",
    });
    await skopeo([
      "copy",
      "--dest-tls-verify=false",
      "--dest-creds",
      "bob:pw",
      "--retry-times",
      "0",
      `oci:${src}:1.0`,
      `docker://${hostOf(replicas.a)}/acme/shared:1.0`,
    ]);
    // Read-your-writes: the replica that took the manifest PUT answered 201 only once it served it.
    expect(await served(replicas.a, "acme/shared", "1.0")).toBe(true);
    const waited = await eventually("B serves acme/shared:1.0", 10_000, () =>
      served(replicas.b, "acme/shared", "1.0"),
    );
    expect(waited).toBeLessThan(10_000);
    const { stdout } = await skopeo([
      "inspect",
      "--tls-verify=false",
      "--format",
      "{{.Digest}}",
      `docker://${hostOf(replicas.b)}/acme/shared:1.0`,
    ]);
    const digest = stdout.trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const byTag = join(root, "pulled-tag");
    const byDigest = join(root, "pulled-digest");
    await skopeo([
      "copy",
      "--src-tls-verify=false",
      `docker://${hostOf(replicas.b)}/acme/shared:1.0`,
      `oci:${byTag}:x`,
    ]);
    await skopeo([
      "copy",
      "--src-tls-verify=false",
      `docker://${hostOf(replicas.b)}/acme/shared@${digest}`,
      `oci:${byDigest}:x`,
    ]);
    const tagged = await verifyOciDir(byTag);
    expect(tagged.layers).toHaveLength(2);
    expect((await verifyOciDir(byDigest)).diffIds).toEqual(tagged.diffIds);
    const log = gitOut(root, [`--git-dir=${remote}`, "log", "-1", "--format=%an|%s", "main"]);
    expect(log).toBe("bob|acme push acme/shared:1.0 (registry API)");
  }, 240_000);

  it("a commit that lands from elsewhere (as raas push makes it) is served by both after a notification", async () => {
    // The app repository moves without either replica taking the write: a manifest PUT straight
    // through A's push API would also reload A, so commit with git, as the CLI does.
    const work = join(root, "work");
    gitOut(root, ["clone", "--quiet", remote, work]);
    const [aBefore, bBefore] = [replicas.a!.records.length, replicas.b!.records.length];
    gitOut(work, [
      "-c",
      "user.name=cli",
      "-c",
      "user.email=cli@x",
      "commit",
      "--quiet",
      "--allow-empty",
      "-m",
      "cli",
    ]);
    gitOut(work, ["push", "--quiet", "origin", "HEAD:main"]);
    const head = gitOut(work, ["rev-parse", "HEAD"]).trim();
    for (const replica of [replicas.a, replicas.b]) {
      expect((await on(replica, "/raas/notify", { method: "POST" })).status).toBe(202);
    }
    const reloadedAt = (replica: Replica | undefined, from: number) =>
      replica!.records.slice(from).some((r) => r.event === "reload" && r.commit === head);
    await eventually("A reloads the new commit", 5000, () =>
      Promise.resolve(reloadedAt(replicas.a, aBefore)),
    );
    await eventually("B reloads the new commit", 5000, () =>
      Promise.resolve(reloadedAt(replicas.b, bBefore)),
    );
  }, 60_000);

  it("four clients pushing different tags to one repository through A and B lose no tag", async () => {
    const layer = randomBytes(4096);
    const tags = ["t1", "t2", "t3", "t4"];
    const through = [replicas.a, replicas.b, replicas.a, replicas.b];
    const manifests = await Promise.all(
      tags.map(async (tag, i) => {
        const replica = through[i];
        const config = configBlob(tag);
        await pushBlob(replica, "acme/busy", config);
        await pushBlob(replica, "acme/busy", layer);
        const manifest = manifestFor(config, layer);
        const res = await on(
          replica,
          `/v2/acme/busy/manifests/${tag}`,
          {
            method: "PUT",
            body: new Uint8Array(manifest),
            headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
          },
          `client${i + 1}`,
        );
        // On failure, say why (the answer and what the replica logged).
        const body = res.status === 201 ? "" : await res.text();
        if (body !== "") await new Promise((resolve) => setTimeout(resolve, 500));
        const problems = replica!.records.filter((r) => r.level === "error" || r.level === "warn");
        expect({ status: res.status, body, problems }).toEqual({ status: 201, body: "", problems: [] });
        return sha(manifest);
      }),
    );
    const subjects = gitOut(root, [`--git-dir=${remote}`, "log", "--format=%an|%s", "main"]).split("\n");
    for (const [i, tag] of tags.entries()) {
      expect(subjects).toContain(`client${i + 1}|acme push acme/busy:${tag} (registry API)`);
    }
    for (const replica of [replicas.a, replicas.b]) {
      for (const [i, tag] of tags.entries()) {
        await eventually(`acme/busy:${tag}`, 10_000, () => served(replica, "acme/busy", tag, manifests[i]));
      }
    }
  }, 120_000);

  it("A killed in the middle of a chunked upload: the client finishes it on B, and the image pulls verified", async () => {
    const layer = randomBytes(3 * 1024 * 1024);
    const start = await on(replicas.a, "/v2/acme/resumed/blobs/uploads/", { method: "POST" });
    expect(start.status).toBe(202);
    const location = start.headers.get("location")!;
    const half = 1024 * 1024 + 17;
    const first = await on(replicas.a, location, {
      method: "PATCH",
      body: new Uint8Array(layer.subarray(0, half)),
      headers: { "Content-Range": `0-${half - 1}`, "Content-Type": "application/octet-stream" },
    });
    expect(first.status).toBe(202);
    killGroup(replicas.a, "SIGKILL");
    await new Promise<void>((resolve) => {
      if (replicas.a!.proc.exitCode !== null || replicas.a!.proc.signalCode !== null) resolve();
      else replicas.a!.proc.once("exit", () => resolve());
    });
    await expect(fetch(`${replicas.a!.url}/v2/`)).rejects.toThrow();

    // B knows the session from storage: its status, then the rest, then the digest.
    const status = await on(replicas.b, location);
    expect(status.status).toBe(204);
    expect(status.headers.get("range")).toBe(`0-${half - 1}`);
    const second = await on(replicas.b, location, {
      method: "PATCH",
      body: new Uint8Array(layer.subarray(half)),
      headers: { "Content-Range": `${half}-${layer.length - 1}`, "Content-Type": "application/octet-stream" },
    });
    expect(second.status).toBe(202);
    const done = await on(replicas.b, `${location}?digest=${sha(layer)}`, { method: "PUT" });
    expect(done.status).toBe(201);

    const config = configBlob("resumed");
    await pushBlob(replicas.b, "acme/resumed", config);
    const manifest = manifestFor(config, layer);
    const put = await on(replicas.b, "/v2/acme/resumed/manifests/1.0", {
      method: "PUT",
      body: new Uint8Array(manifest),
      headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(put.status).toBe(201);
    // skopeo checks every digest as it pulls; a dir: copy keeps the layer as stored, byte for byte.
    const out = join(root, "pulled-resumed");
    await skopeo([
      "copy",
      "--src-tls-verify=false",
      `docker://${hostOf(replicas.b)}/acme/resumed:1.0`,
      `dir:${out}`,
    ]);
    const pulled = await readFile(join(out, sha(layer).slice(7)));
    expect(sha(pulled)).toBe(sha(layer));
    expect(pulled.equals(layer)).toBe(true);
  }, 120_000);
});
