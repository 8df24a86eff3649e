/**
 * What one manifest PUT may make the registry do: an index is a few KiB, but each child it lists
 * is read (up to 4 MiB) and each blob a child references is looked up. A hostile index listing
 * one large manifest a thousand times, or many children of a thousand layers each, must cost a
 * bounded amount of reading, memory and storage round trips, and be refused clearly beyond it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { blobKey, manifestKey } from "../crane/keys.js";
import { sha256Digest, type Digest } from "../image/digest.js";
import { LocalStore } from "../storage/local.js";
import { checkManifest, MAX_INDEX_CHILDREN_BYTES, MAX_LOOKUPS } from "./push-manifest.js";
import { RegistryError } from "./registry-error.js";

const REPO = "acme-app";
const IMAGE = "application/vnd.oci.image.manifest.v1+json";
const INDEX = "application/vnd.oci.image.index.v1+json";
const CONFIG = "application/vnd.oci.image.config.v1+json";
const LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A local store that counts what checkManifest asks of it. */
async function countingStore() {
  const dir = await mkdtemp(join(tmpdir(), "raas-push-manifest-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const store = new LocalStore(dir);
  const counts = { heads: 0, gets: 0, bytesRead: 0 };
  const counting = Object.create(store) as LocalStore;
  counting.head = (key) => {
    counts.heads++;
    return store.head(key);
  };
  counting.getBuffer = async (key) => {
    counts.gets++;
    const bytes = await store.getBuffer(key);
    counts.bytesRead += bytes.length;
    return bytes;
  };
  return { store, counting, counts };
}

async function putBlob(store: LocalStore, bytes: Buffer) {
  const digest = sha256Digest(bytes);
  await store.put(blobKey(REPO, digest), bytes);
  return { mediaType: LAYER, digest, size: bytes.length };
}

/** An image manifest stored by digest; `pad` bytes of annotation make it large. */
async function putImage(
  store: LocalStore,
  config: { digest: Digest; size: number },
  layers: { mediaType: string; digest: Digest; size: number }[],
  pad = 0,
) {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: IMAGE,
      config: { mediaType: CONFIG, digest: config.digest, size: config.size },
      layers,
      ...(pad > 0 ? { annotations: { pad: "x".repeat(pad) } } : {}),
    }),
  );
  const digest = sha256Digest(bytes);
  await store.put(manifestKey(REPO, IMAGE, digest), bytes);
  return { mediaType: IMAGE, digest, size: bytes.length };
}

const index = (manifests: object[]) =>
  Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests }));

async function refusal(promise: Promise<unknown>): Promise<RegistryError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  return err as RegistryError;
}

describe("checkManifest's budget for an index", () => {
  it("reads a child listed many times once, and keeps each listing's platform", async () => {
    const { store, counting, counts } = await countingStore();
    const config = await putBlob(store, Buffer.from("{}"));
    const layer = await putBlob(store, Buffer.from("layer"));
    // Nearly 4 MiB: listed 400 times, this was 1.6 GiB read and held for one PUT.
    const child = await putImage(store, config, [layer], 4 * 1024 * 1024 - 1024);
    const platforms = ["amd64", "arm64"];
    const entries = Array.from({ length: 400 }, (_, i) => ({
      ...child,
      platform: { architecture: platforms[i % 2], os: "linux" },
    }));
    const checked = await checkManifest(counting, REPO, index(entries), INDEX);
    if (checked.root.kind !== "index") throw new Error("expected an index");
    expect(checked.root.manifests).toHaveLength(400);
    expect(checked.root.manifests.map((m) => m.platform?.architecture)).toEqual(
      entries.map((e) => e.platform.architecture),
    );
    expect(new Set(checked.root.manifests.map((m) => m.digest))).toEqual(new Set([child.digest]));
    expect(counts.gets).toBe(1);
    expect(counts.bytesRead).toBe(child.size);
    // The child, its config and its layer: looked up once.
    expect(counts.heads).toBe(3);
  });

  it("refuses distinct children that together exceed MAX_INDEX_CHILDREN_BYTES, before reading past it", async () => {
    const { store, counting, counts } = await countingStore();
    const config = await putBlob(store, Buffer.from("{}"));
    const children = [];
    for (let i = 0; i < 6; i++) {
      const layer = await putBlob(store, Buffer.from(`layer ${i}`));
      children.push(await putImage(store, config, [layer], 4 * 1024 * 1024 - 1024));
    }
    const err = await refusal(checkManifest(counting, REPO, index(children), INDEX));
    expect([err.status, err.code, err.message]).toEqual([
      400,
      "MANIFEST_INVALID",
      `the manifests an index lists may total at most ${MAX_INDEX_CHILDREN_BYTES} bytes`,
    ]);
    expect(counts.bytesRead).toBeLessThanOrEqual(MAX_INDEX_CHILDREN_BYTES);
    // Four children of just under 4 MiB fit; the fifth is refused before it is read.
    expect(counts.gets).toBe(4);
  });

  it("refuses a manifest whose children reference more than MAX_LOOKUPS blobs in all, stopping there", async () => {
    const { store, counting, counts } = await countingStore();
    const layers = [];
    for (let i = 0; i < 1000; i++) layers.push(await putBlob(store, Buffer.from(`l${i}`)));
    const children = [];
    // Eleven children of 1,000 layers each (distinct configs make distinct children).
    for (let i = 0; i < 11; i++) {
      const config = await putBlob(store, Buffer.from(`{"n":${i}}`));
      children.push(await putImage(store, config, layers));
    }
    const err = await refusal(checkManifest(counting, REPO, index(children), INDEX));
    expect([err.status, err.code, err.message]).toEqual([
      400,
      "MANIFEST_INVALID",
      `a manifest may reference at most ${MAX_LOOKUPS} blobs and manifests in all`,
    ]);
    expect(counts.heads).toBe(MAX_LOOKUPS);
    // Within the budget, the same children pass.
    const fine = await checkManifest(counting, REPO, index(children.slice(0, 9)), INDEX);
    expect(fine.root.kind === "index" && fine.root.manifests.length).toBe(9);
  });

  it("still refuses a repeated child whose listed size differs", async () => {
    const { store } = await countingStore();
    const config = await putBlob(store, Buffer.from("{}"));
    const child = await putImage(store, config, [await putBlob(store, Buffer.from("l"))]);
    const err = await refusal(
      checkManifest(store, REPO, index([child, { ...child, size: child.size + 1 }]), INDEX),
    );
    expect([err.status, err.message]).toEqual([400, "manifests[1] has the wrong size"]);
  });
});
