/**
 * Two registry replicas, A (two workers) and B (one), on one storage and one bare git remote,
 * both following the app repository ([metadata] follow): what one takes, the other serves
 * within seconds; what `raas push` publishes into the same remote and storage both serve within
 * seconds (the one it notifies, and the other on its interval); concurrent pushes through both
 * lose no tag; a replica killed in the middle of a chunked upload loses nothing the client
 * cannot finish on the other.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, runCli } from "../helpers/cli.js";
import { deployedAppRemote, gitOut } from "../helpers/git.js";
import { buildOciLayout, writeOciLayoutDir } from "../helpers/image-builder.js";
import { startPushApiServer, type PushApiRepo, type RegistryProcess } from "../helpers/push-api-server.js";
import { pullByTagAndDigest, skopeoPush, verifyOciDir } from "../helpers/skopeo.js";
import { imageManifest } from "../helpers/oci-manifest.js";

const run = promisify(execFile);
const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

let root: string;
let remote: string;
const replicas: { a?: Replica; b?: Replica } = {};

type Replica = RegistryProcess;

/** Where `raas push` keeps its state: local storage is `<home>/raas/acme/storage`. */
const cliHome = () => join(root, "cli-home");

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "raas-replicas-"));
  // The replicas serve the storage `raas push` writes to (local storage), as `raas setup` sets them up.
  const repo: PushApiRepo = {
    ...(await deployedAppRemote(root)),
    store: join(cliHome(), "raas", "acme", "storage"),
  };
  remote = repo.remote;
  await mkdir(repo.store, { recursive: true });
  const replica = (name: string, workers: number) =>
    startPushApiServer({ root, repo, name, workers, followInterval: 1, detached: true });
  [replicas.a, replicas.b] = await Promise.all([replica("a", 2), replica("b", 1)]);
}, 120_000);

afterAll(async () => {
  await replicas.a?.kill("SIGKILL");
  await replicas.b?.kill("SIGKILL");
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
const hostOf = (replica: Replica | undefined) => replica!.host;

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
    expect(
      await skopeoPush(`oci:${src}:1.0`, `${hostOf(replicas.a)}/acme/shared:1.0`, { creds: "bob:pw" }),
    ).toBe("");
    // Read-your-writes: the replica that took the manifest PUT answered 201 only once it served it.
    expect(await served(replicas.a, "acme/shared", "1.0")).toBe(true);
    const waited = await eventually("B serves acme/shared:1.0", 10_000, () =>
      served(replicas.b, "acme/shared", "1.0"),
    );
    expect(waited).toBeLessThan(10_000);
    const pulled = await pullByTagAndDigest(hostOf(replicas.b), "acme/shared", "1.0", root);
    expect(pulled.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(pulled.byTag.layers).toHaveLength(2);
    expect(pulled.byDigest.diffIds).toEqual(pulled.byTag.diffIds);
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

  it("raas push into the same app repository and storage: A (notified) and B (on its interval) serve it within seconds, by tag and digest, every blob verified", async () => {
    const work = join(root, "cli");
    await mkdir(work, { recursive: true });
    const image = await buildOciLayout(join(work, "cli.tar"), { name: "acme/cli", tag: "1.0", layers: 2 });
    const digest = image.digest!;
    // raas push commits to the replicas' remote (on the local platform the app remote is
    // <state_dir>/<isv>/app.git) and tells A, its app_url, that there is news.
    await symlink(remote, join(cliHome(), "raas", "acme", "app.git"));
    await writeFile(join(work, "raas.cfg"), ["[acme]", `app_url = ${replicas.a!.url}`, ""].join("\n"));
    const [aBefore, bBefore] = [replicas.a!.records.length, replicas.b!.records.length];
    const pushed = await runCli(["push", "acme", join(work, "cli.tar"), "--json"], {
      cwd: work,
      env: cliEnv(cliHome()),
    });
    expect(pushed.code, pushed.stdout + pushed.stderr).toBe(0);
    const result = JSON.parse(pushed.stdout) as {
      commit?: string;
      images: { name: string; digest: string }[];
    };
    expect(result.images).toEqual([expect.objectContaining({ name: "acme/cli", digest })]);
    expect(result.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(gitOut(root, [`--git-dir=${remote}`, "log", "-1", "--format=%H|%an|%s", "main"])).toBe(
      `${result.commit}|raas test|acme push acme/cli:1.0`,
    );
    // A took the notification `raas push` sent after its commit.
    expect(
      replicas
        .a!.records.slice(aBefore)
        .some((r) => r.event === "request" && r.method === "POST" && r.path === "/raas/notify"),
    ).toBe(true);

    // Both serve the tag and the digest within seconds of the push (B checks every second).
    for (const replica of [replicas.a, replicas.b]) {
      const waited = await eventually(
        `${replica === replicas.a ? "A" : "B"} serves acme/cli:1.0`,
        10_000,
        () => served(replica, "acme/cli", "1.0", digest),
      );
      expect(waited).toBeLessThan(10_000);
      expect(await served(replica, "acme/cli", digest, digest)).toBe(true);
    }
    const reloaded = (replica: Replica | undefined, from: number) =>
      replica!.records.slice(from).some((r) => r.event === "reload" && r.commit === result.commit);
    expect([reloaded(replicas.a, aBefore), reloaded(replicas.b, bBefore)]).toEqual([true, true]);

    // Every blob of the image, from each replica, hashes to its digest.
    const blobs = image.manifests.flatMap((m) => [m.config.digest, ...m.layers.map((l) => l.digest)]);
    expect(blobs).toHaveLength(3);
    for (const replica of [replicas.a, replicas.b]) {
      for (const blob of blobs) {
        const res = await fetch(`${replica!.url}/v2/acme/cli/blobs/${blob}`);
        expect(res.status).toBe(200);
        expect(sha(Buffer.from(await res.arrayBuffer()))).toBe(blob);
      }
    }
    // And real pulls: from A by tag, from B by digest (skopeo checks every digest as it pulls).
    const byTag = join(work, "pulled-tag");
    const byDigest = join(work, "pulled-digest");
    await skopeo([
      "copy",
      "--src-tls-verify=false",
      `docker://${hostOf(replicas.a)}/acme/cli:1.0`,
      `oci:${byTag}:x`,
    ]);
    await skopeo([
      "copy",
      "--src-tls-verify=false",
      `docker://${hostOf(replicas.b)}/acme/cli@${digest}`,
      `oci:${byDigest}:x`,
    ]);
    const tagged = await verifyOciDir(byTag);
    expect(tagged.diffIds).toEqual(image.manifests[0]!.layers.map((l) => l.diffId));
    expect((await verifyOciDir(byDigest)).diffIds).toEqual(tagged.diffIds);
  }, 120_000);

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
        const manifest = imageManifest(config, layer);
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
    await replicas.a!.kill("SIGKILL");
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
    const manifest = imageManifest(config, layer);
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
