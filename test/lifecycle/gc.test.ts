/**
 * `push`, `deleteImage` and `gc` in-process against real stores (a temp directory and s3rver on
 * loopback) and a real git app repository: what gc frees, what it keeps (referenced, younger
 * than the grace period, outside the image layout, referenced by a metadata state inside the
 * grace window), that --dry-run deletes nothing, and that it refuses unsafe input.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GitAppRepository } from "../../src/app/app-transaction.js";
import { registryTrust } from "../../src/app/registry-http.js";
import { deleteImage } from "../../src/commands/delete.js";
import { gc, readGcRecord } from "../../src/commands/gc.js";
import type { AppRepository } from "../../src/app/app-repository.js";
import { sha256Digest } from "../../src/image/digest.js";
import { blobKey } from "../../src/crane/keys.js";
import { LocalStore } from "../../src/storage/local.js";
import { RecordingReporter } from "../../src/ui/reporter.js";
import { pushFiles, tempGitRemote } from "../helpers/git.js";
import { buildDockerArchive, type BuiltImage } from "../helpers/image-builder.js";
import { bothStores, lifecycleWorld, pushInProcess, storeKeys } from "../helpers/lifecycle-world.js";

const HOUR = 3_600_000;
const ISV = "gct";
const stores = bothStores("gc");

describe.each(stores)("gc on %s", (_label, openStore) => {
  async function world() {
    const base = await lifecycleWorld(ISV, openStore, "raas-gc-");
    const { dir, store, remote, ctx, withApp } = base;
    const pushImage = (image: BuiltImage) => base.pushImage(image.path);
    const del = (reference: string, dryRun = false) =>
      withApp((a) =>
        deleteImage({ isv: ISV, reference, dryRun, wait: false, timeoutSeconds: 5 }, ctx, {
          app: a,
          store,
          registryUrl: "http://127.0.0.1:9",
          registry: () => Promise.resolve({ ...registryTrust(undefined), login: undefined }),
        }),
      );
    const collect = (options: { dryRun?: boolean; graceMs?: number; at?: number; unsafeGrace?: boolean }) =>
      withApp((a) =>
        gc(
          {
            isv: ISV,
            dryRun: options.dryRun ?? false,
            graceMs: options.graceMs ?? HOUR,
            unsafeGrace: options.unsafeGrace ?? false,
          },
          ctx,
          { store, apps: [a], now: () => new Date(Date.now() + (options.at ?? 0)) },
        ),
      );
    return { dir, store, remote, pushImage, del, collect };
  }

  it("frees exactly what a deletion left unreferenced, and --dry-run deletes nothing", async () => {
    const w = await world();
    const a = await buildDockerArchive(join(w.dir, "a.tar"), { name: "acme/app", tag: "1.0", layers: 2 });
    const b = await buildDockerArchive(join(w.dir, "b.tar"), {
      name: "acme/app",
      tag: "2.0",
      layers: 3,
      sharedLayersFrom: a,
    });
    const c = await buildDockerArchive(join(w.dir, "c.tar"), { name: "acme/tools", tag: "1", layers: 1 });
    const aDigest = (await w.pushImage(a)).images[0]?.digest;
    await w.pushImage(b);
    await w.pushImage(c);
    if (aDigest === undefined) throw new Error("push returned no image");
    const deleted = await w.del(`acme/app@${aDigest}`);
    expect(deleted.deleted.removedTags).toEqual(["1.0"]);
    // Image a has its own config; its layers are shared with b.
    expect(deleted.deleted.unreferencedBlobs).toBe(1);
    const gone = await w.del("acme/tools:1");
    expect(gone.deleted.repositoryRemoved).toBe(true);
    const before = await storeKeys(w.store);

    // Two hours on, everything is older than a one-hour grace; the deletions are outside the window.
    const dry = await w.collect({ dryRun: true, at: 2 * HOUR });
    expect(await storeKeys(w.store)).toEqual(before);
    expect(await readGcRecord(w.store)).toBeUndefined();
    const expected = [
      blobKey("acme-app", a.manifests[0]?.config.digest ?? sha256Digest("")),
      `acme-app/manifests/2/${aDigest}`,
      "acme-app/manifests/2/1.0",
      ...before.filter((k) => k.startsWith("acme-tools/")),
    ].sort();
    expect([...dry.gc.freedKeys].sort()).toEqual(expected);

    const run = await w.collect({ at: 2 * HOUR });
    expect([...run.gc.freedKeys].sort()).toEqual(expected);
    expect(run.gc.freed.count).toBe(expected.length);
    expect(run.gc.freed.bytes).toBe(dry.gc.freed.bytes);
    expect(run.gc.freed.bytes).toBeGreaterThan(1024);
    expect(await storeKeys(w.store)).toEqual(
      [...before.filter((k) => !expected.includes(k)), ".raas-gc/last.json"].sort(),
    );
    // Image b, untouched, still has every object it needs.
    for (const layer of b.manifests[0]?.layers ?? []) {
      expect(await w.store.head(blobKey("acme-app", layer.digest))).toBeDefined();
    }
    const record = await readGcRecord(w.store);
    expect(record?.freed).toEqual(run.gc.freed);

    const again = await w.collect({ at: 2 * HOUR });
    expect(again.gc.freed.count).toBe(0);
  });

  it("keeps an unreferenced blob younger than the grace period (a push that has not committed yet)", async () => {
    const w = await world();
    const a = await buildDockerArchive(join(w.dir, "a.tar"), { name: "acme/app", tag: "1.0", layers: 1 });
    await w.pushImage(a);
    const pending = Buffer.from("uploaded by a push still running");
    const key = blobKey("acme-app", sha256Digest(pending));
    await w.store.put(key, pending);

    const run = await w.collect({ graceMs: HOUR });
    expect(run.gc.freed.count).toBe(0);
    expect(run.gc.keptByGraceKeys).toEqual([key]);
    expect(await w.store.head(key)).toBeDefined();
    // Once older than the grace period, nothing protects it.
    const later = await w.collect({ graceMs: HOUR, at: 2 * HOUR });
    expect(later.gc.freedKeys).toEqual([key]);
    expect(await w.store.head(key)).toBeUndefined();
  });

  it("marks from metadata states inside the grace window (a push that started before a deletion)", async () => {
    const w = await world();
    const a = await buildDockerArchive(join(w.dir, "a.tar"), { name: "acme/app", tag: "1.0", layers: 1 });
    await w.pushImage(a);
    await w.del("acme/app:1.0");
    const layerKey = blobKey("acme-app", a.manifests[0]?.layers[0]?.digest ?? sha256Digest(""));
    // Thirty minutes on, with a one-hour grace, the state before the deletion is still inside the window.
    const inside = await w.collect({ at: HOUR / 2, graceMs: HOUR });
    expect(inside.gc.freed.count).toBe(0);
    expect(inside.gc.sources[0]?.earlierVersions).toBeGreaterThan(0);
    expect(await w.store.head(layerKey)).toBeDefined();
    const outside = await w.collect({ at: 2 * HOUR, graceMs: HOUR });
    expect(outside.gc.freedKeys).toContain(layerKey);
  });

  it("a push reusing blobs a deletion left behind refreshes them instead of trusting them", async () => {
    const w = await world();
    const a = await buildDockerArchive(join(w.dir, "a.tar"), { name: "acme/app", tag: "1.0", layers: 2 });
    await w.pushImage(a);
    await w.del("acme/app:1.0");
    // Storage dates have one-second precision.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const started = Math.floor(Date.now() / 1000) * 1000;
    const again = await w.pushImage(a);
    // Locally the refresh is a copy onto itself; s3rver keeps an in-place copy's old date
    // (AWS S3 does not), so there the push uploads them again.
    expect(again.images[0]?.counts).toEqual(
      w.store instanceof LocalStore
        ? { uploaded: 0, present: 3, masked: 0 }
        : { uploaded: 3, present: 0, masked: 0 },
    );
    for (const blob of again.images[0]?.blobs ?? []) {
      const info = await w.store.head(blobKey("acme-app", blob.digest as `sha256:${string}`));
      expect(info?.lastModified?.getTime(), blob.digest).toBeGreaterThanOrEqual(started);
    }
  });

  it("a push uploads again a refreshed blob that a gc run deleted before the commit", async () => {
    const w = await world();
    const a = await buildDockerArchive(join(w.dir, "a.tar"), { name: "acme/app", tag: "1.0", layers: 1 });
    await w.pushImage(a);
    await w.del("acme/app:1.0");
    const layer = blobKey("acme-app", a.manifests[0]?.layers[0]?.digest ?? sha256Digest(""));
    const reporter = new RecordingReporter();
    const real = new GitAppRepository({ remote: w.remote, branch: "main", reporter });
    // The residual window of docs/gc.md, forced: a gc run deletes the layer after the push
    // trusted it and before its metadata commit.
    const racing: AppRepository = {
      remote: real.remote,
      read: (file) => real.read(file),
      list: (dir) => real.list(dir),
      update: async (message, change) => {
        await w.store.delete(layer);
        return real.update(message, change);
      },
    };
    try {
      await pushInProcess(ISV, a.path, { cwd: w.dir, env: {}, reporter }, w.store, racing);
    } finally {
      await real.close();
    }
    expect(await w.store.head(layer)).toBeDefined();
    expect(reporter.lines.join("\n")).toMatch(
      /1 blob\(s\) of acme-app were collected by a concurrent `raas gc`/,
    );
  });

  it("marks from the app repository of every environment sharing the store", async () => {
    const w = await world();
    const prod = await tempGitRemote();
    const reporter = new RecordingReporter();
    const prodApp = () => new GitAppRepository({ remote: prod.remote, branch: "main", reporter });
    // The same store, another environment's metadata: prod publishes acme/app:2.0 there.
    const b = await buildDockerArchive(join(w.dir, "b.tar"), { name: "acme/app", tag: "2.0", layers: 1 });
    const app = prodApp();
    try {
      await pushInProcess(ISV, b.path, { cwd: w.dir, env: {}, reporter }, w.store, app);
    } finally {
      await app.close();
    }
    const a = await buildDockerArchive(join(w.dir, "a.tar"), { name: "acme/app", tag: "1.0", layers: 1 });
    await w.pushImage(a);
    const both = [new GitAppRepository({ remote: w.remote, branch: "main", reporter }), prodApp()];
    try {
      const run = await gc(
        { isv: ISV, dryRun: false, graceMs: HOUR },
        { cwd: w.dir, env: {}, reporter },
        { store: w.store, apps: both, now: () => new Date(Date.now() + 2 * HOUR) },
      );
      expect(run.gc.freed.count).toBe(0);
      expect(run.gc.sources.map((s) => s.files)).toEqual([1, 1]);
    } finally {
      for (const repo of both) await repo.close();
    }
    // Marking from one environment only would take the other's image away.
    const alone = await w.collect({ dryRun: true, at: 2 * HOUR });
    expect(alone.gc.freedKeys).toContain(
      blobKey("acme-app", b.manifests[0]?.layers[0]?.digest ?? sha256Digest("")),
    );
  });

  it("never touches objects outside the image layout", async () => {
    const w = await world();
    const a = await buildDockerArchive(join(w.dir, "a.tar"), { name: "acme/app", tag: "1.0", layers: 1 });
    await w.pushImage(a);
    for (const key of ["_uploads/acme-app/abc", "acme-app/notes.txt", `acme-app/manifests/1/latest`]) {
      await w.store.put(key, Buffer.from("not garbage"));
    }
    const run = await w.collect({ at: 2 * HOUR });
    expect(run.gc.freed.count).toBe(0);
    expect(run.gc.foreign.count).toBe(3);
    expect(await w.store.head("_uploads/acme-app/abc")).toBeDefined();
  });

  it("refuses a grace below the safe minimum unless forced, and unreadable metadata", async () => {
    const w = await world();
    await expect(w.collect({ graceMs: 60_000 })).rejects.toThrow(/below the safe minimum of 1h/);
    const a = await buildDockerArchive(join(w.dir, "a.tar"), { name: "acme/app", tag: "1.0", layers: 1 });
    await w.pushImage(a);
    expect((await w.collect({ graceMs: 0, unsafeGrace: true })).gc.freed.count).toBe(0);

    await pushFiles(w.remote, "main", { "data/gct-broken.json": "{ not json" }, "damage");
    const orphan = Buffer.from("would be garbage");
    await w.store.put(blobKey("acme-app", sha256Digest(orphan)), orphan);
    await expect(w.collect({ at: 2 * HOUR })).rejects.toThrow(
      /cannot read data\/gct-broken.json .*nothing was collected/,
    );
    expect(await w.store.head(blobKey("acme-app", sha256Digest(orphan)))).toBeDefined();
  });

  it("reports unknown repositories, tags and digests without committing anything", async () => {
    const w = await world();
    const a = await buildDockerArchive(join(w.dir, "a.tar"), { name: "acme/app", tag: "1.0", layers: 1 });
    await w.pushImage(a);
    await expect(w.del("acme/nope:1.0")).rejects.toThrow(/gct has no repository acme\/nope/);
    await expect(w.del("acme/app:2.0")).rejects.toThrow(/acme\/app has no tag 2.0/);
    await expect(w.del(`acme/app@sha256:${"0".repeat(64)}`)).rejects.toThrow(/has no manifest/);
    const dry = await w.del("acme/app:1.0", true);
    expect(dry.deleted).toMatchObject({
      dryRun: true,
      removedTags: ["1.0"],
      repositoryRemoved: true,
      commit: undefined,
    });
    // Still there: the dry run committed nothing.
    await expect(w.del("acme/app:1.0", true)).resolves.toBeDefined();
  });
});
