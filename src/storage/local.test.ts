import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UserError } from "../errors.js";
import { sha256Digest } from "../image/digest.js";
import { LocalStore } from "./local.js";
import { DigestMismatchError, ObjectNotFoundError } from "./types.js";

let dir: string;
let store: LocalStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-local-test-"));
  store = new LocalStore(join(dir, "root"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function keys(prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const object of store.list(prefix)) found.push(object.key);
  return found;
}

describe("LocalStore", () => {
  it("maps keys to files under the root, with a sidecar for the content type", async () => {
    const data = Buffer.from("blob");
    const key = `app/blobs/${sha256Digest(data)}`;
    expect(store.pathOf(key)).toBe(join(dir, "root", "app", "blobs", sha256Digest(data)));
    await store.put(key, data, { contentType: "application/octet-stream" });
    expect(await readFile(store.pathOf(key), "utf8")).toBe("blob");
    const sidecar: unknown = JSON.parse(
      await readFile(join(store.root, ".meta", "app", "blobs", `${sha256Digest(data)}.json`), "utf8"),
    );
    expect(sidecar).toEqual({ contentType: "application/octet-stream" });
    expect(await readdir(join(store.root, ".tmp"))).toEqual([]);
    expect(await keys("")).toEqual([key]);
  });

  it("writes no sidecar for an object without a content type, and drops the one of an earlier write", async () => {
    const sidecar = join(store.root, ".meta", "app", "x.json");
    await store.put("app/x", Buffer.from("typed"), { contentType: "application/json" });
    expect((await store.head("app/x"))?.contentType).toBe("application/json");
    await store.put("app/x", Buffer.from("untyped"));
    expect(await readFile(store.pathOf("app/x"), "utf8")).toBe("untyped");
    expect((await store.head("app/x"))?.contentType).toBeUndefined();
    await expect(readFile(sidecar)).rejects.toMatchObject({ code: "ENOENT" });
    await store.put("app/y", Buffer.from("never typed"));
    expect(await readdir(join(store.root, ".meta", "app"))).toEqual([]);
    expect(await readdir(join(store.root, ".tmp"))).toEqual([]);
    await store.copy("app/y", "app/z", { contentType: "text/plain" });
    expect((await store.head("app/z"))?.contentType).toBe("text/plain");
    expect(await keys("app/")).toEqual(["app/x", "app/y", "app/z"]);
  });

  it("rejects keys in its own bookkeeping folders and unsafe keys in pathOf", async () => {
    for (const key of [".tmp/x", ".meta/app/x.json", ".raas-probe/x"]) {
      expect(() => store.pathOf(key)).toThrow(/reserved/);
      await expect(store.put(key, Buffer.from("x"))).rejects.toThrow(/reserved/);
    }
    expect(() => store.pathOf("../outside")).toThrow(/unsafe storage key/);
    expect(() => store.pathOf("a/../../b")).toThrow(/unsafe storage key/);
  });

  it("lists in S3 byte order and skips bookkeeping folders", async () => {
    for (const key of ["a/b", "a-b", "a.b/c", "a/a", "A"]) await store.put(key, Buffer.from(key));
    await mkdir(join(store.root, ".tmp"), { recursive: true });
    await writeFile(join(store.root, ".tmp", "partial"), "x");
    expect(await keys("")).toEqual(["A", "a-b", "a.b/c", "a/a", "a/b"]);
    expect(await keys("a")).toEqual(["a-b", "a.b/c", "a/a", "a/b"]);
  });

  it("does not follow symbolic links when listing", async () => {
    const outside = join(dir, "outside");
    await mkdir(outside);
    await writeFile(join(outside, "secret"), "x");
    await store.put("app/tags/list", Buffer.from("[]"));
    await symlink(outside, join(store.root, "app", "linked"));
    expect(await keys("")).toEqual(["app/tags/list"]);
  });

  it("cleans up its temp file when the digest does not match or the source fails", async () => {
    await expect(
      store.put("a/x", Buffer.from("abc"), { digest: sha256Digest("abd") }),
    ).rejects.toBeInstanceOf(DigestMismatchError);
    function* failing(): Generator<Buffer> {
      yield Buffer.from("part");
      throw new Error("source broke");
    }
    await expect(store.put("a/y", Readable.from(failing()))).rejects.toThrow("source broke");
    expect(await readdir(join(store.root, ".tmp"))).toEqual([]);
    expect(await store.head("a/x")).toBeUndefined();
    expect(await store.head("a/y")).toBeUndefined();
    expect(await keys("")).toEqual([]);
  });

  it("treats folders as missing objects", async () => {
    await store.put("app/manifests/2/latest", Buffer.from("{}"));
    expect(await store.head("app/manifests")).toBeUndefined();
    await expect(store.get("app/manifests")).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.getBuffer("app/manifests")).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it("turns directory problems into UserErrors naming the path", async () => {
    await store.put("a/b", Buffer.from("file"));
    const conflict = await store.put("a/b/c", Buffer.from("x")).catch((err: unknown) => err);
    expect(conflict).toBeInstanceOf(UserError);
    expect((conflict as UserError).message).toContain(join(store.root, "a", "b", "c"));

    await writeFile(join(dir, "plain-file"), "x");
    const blocked = new LocalStore(join(dir, "plain-file", "store"));
    const probe = await blocked.probe().catch((err: unknown) => err);
    expect(probe).toBeInstanceOf(UserError);
    expect((probe as UserError).message).toContain(join(dir, "plain-file"));
    await expect(blocked.put("a/b", Buffer.from("x"))).rejects.toBeInstanceOf(UserError);
    await blocked.delete("a/b");
    expect(await blocked.head("a/b")).toBeUndefined();
  });
});
