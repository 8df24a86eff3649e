/**
 * `raas push` in process, into local storage and a real bare app remote: a name whose storage
 * prefix (its dashed name) another repository holds is refused with a UserError before the first
 * upload, so the other repository's stored objects stay byte for byte as they were and no
 * commit is made. Two names of one input that would share a prefix are refused the same way.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import { LocalStore } from "../../src/storage/local.js";
import { gitOut } from "../helpers/git.js";
import { buildDockerArchiveMulti, buildOciLayout } from "../helpers/image-builder.js";
import { lifecycleWorld, storeKeys } from "../helpers/lifecycle-world.js";

const ISV = "acme";
let world: Awaited<ReturnType<typeof lifecycleWorld>>;

/** A fresh local store and app remote for each test (removed after it). */
beforeEach(async () => {
  world = await lifecycleWorld(
    ISV,
    (dir) => Promise.resolve(new LocalStore(join(dir, "store"))),
    "raas-prefix-",
  );
});

/** Every key under `prefix` with its bytes. */
async function contents(prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of await storeKeys(world.store, `${prefix}/`)) {
    out.set(key, (await world.store.getBuffer(key)).toString("base64"));
  }
  return out;
}
const commits = () => gitOut(world.dir, [`--git-dir=${world.remote}`, "rev-list", "--all", "--count"]);

describe("raas push into a storage prefix another repository holds", () => {
  it("is refused before any upload: the holder's tag object, tags/list and blobs are unchanged", async () => {
    const owner = await buildOciLayout(join(world.dir, "owner"), {
      name: "users/ann-b/app",
      tag: "1",
      layers: 1,
      annotations: "containerd",
    });
    await world.pushImage(owner.path);
    const before = await contents("users-ann-b-app");
    expect([...before.keys()]).toContain("users-ann-b-app/manifests/2/1");
    const commitsBefore = commits();

    const clash = await buildOciLayout(join(world.dir, "clash"), {
      name: "users/ann/b-app",
      tag: "1",
      layers: 1,
      annotations: "containerd",
    });
    const refused = await world.pushImage(clash.path).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(UserError);
    // (Before the fix, the push was refused too, but after its tag object and tags/list were stored.)
    expect(await contents("users-ann-b-app")).toEqual(before);
    expect((refused as UserError).message).toBe(
      "users/ann/b-app would be stored under users-ann-b-app, which holds users/ann-b/app",
    );
    expect((refused as UserError).code).toBe("PREFIX_TAKEN");
    expect(commits()).toBe(commitsBefore);
    const list = JSON.parse(
      (await readFile(join(world.dir, "store", "users-ann-b-app", "tags", "list"))).toString(),
    ) as unknown;
    expect(list).toEqual({ name: "users/ann-b/app", tags: ["1"] });
  });

  it("refuses one input naming two repositories that would share a prefix, uploading nothing", async () => {
    const archive = join(world.dir, "two.tar");
    await buildDockerArchiveMulti(archive, [
      { name: "groups/x/y-z", tag: "1", layers: 1 },
      { name: "groups/x-y/z", tag: "1", layers: 1 },
    ]);
    const commitsBefore = commits();
    const refused = await world.pushImage(archive).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(UserError);
    expect(await storeKeys(world.store, "groups-x-y-z/")).toEqual([]);
    expect((refused as UserError).message).toMatch(
      /^groups\/x(\/y-z|-y\/z) and groups\/x(\/y-z|-y\/z) would both be stored under groups-x-y-z$/,
    );
    expect(commits()).toBe(commitsBefore);
  });
});
