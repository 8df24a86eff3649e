import { describe, expect, it } from "vitest";
import { ListedObjects } from "./status-storage.js";

const at = (key: string, size: number, ms = 1000) => ({ key, size, lastModified: new Date(ms) });

describe("ListedObjects: the compact listing status keeps", () => {
  it("finds every object of a sorted listing, and nothing else", () => {
    const objects = new ListedObjects();
    const keys = Array.from({ length: 1000 }, (_, i) => `repo/blobs/sha256:${String(i).padStart(64, "0")}`);
    keys.forEach((key, i) => objects.add(at(key, i, 2000 + i)));
    expect(objects.size).toBe(1000);
    for (const [i, key] of keys.entries()) {
      expect(objects.get(key)).toEqual(at(key, i, 2000 + i));
    }
    expect(objects.has("repo/blobs/sha256:")).toBe(false);
    expect(objects.has(`${keys[999] ?? ""}0`)).toBe(false);
    expect(objects.firstKey()).toBe(keys[0]);
    expect([...objects].map((o) => o.key)).toEqual(keys);
  });

  it("sorts a listing that arrives out of order, and keeps the later of a repeated key", () => {
    const objects = new ListedObjects();
    for (const [key, size] of [
      ["r/tags/list", 1],
      ["r/blobs/b", 2],
      ["r/blobs/a", 3],
      ["r/blobs/b", 4],
    ] as const) {
      objects.add(at(key, size));
    }
    expect(objects.size).toBe(3);
    expect([...objects].map((o) => [o.key, o.size])).toEqual([
      ["r/blobs/a", 3],
      ["r/blobs/b", 4],
      ["r/tags/list", 1],
    ]);
    expect(objects.get("r/blobs/b")?.size).toBe(4);
    expect(objects.has("r/blobs/c")).toBe(false);
  });

  it("marks listed objects only, each by its own key, after sorting an unordered listing", () => {
    const objects = new ListedObjects();
    for (const key of ["r/tags/list", "r/blobs/b", "r/blobs/a", "r/blobs/b"]) objects.add(at(key, 1));
    expect(objects.isMarked("r/blobs/b")).toBe(false);
    expect(objects.mark("r/blobs/b")).toBe(true);
    expect(objects.mark("r/blobs/c")).toBe(false);
    expect(objects.mark("r/tags/list")).toBe(true);
    expect(["r/blobs/a", "r/blobs/b", "r/blobs/c", "r/tags/list"].map((k) => objects.isMarked(k))).toEqual([
      false,
      true,
      false,
      true,
    ]);
    // Marks are positions in the sorted listing: adding afterwards would shift them.
    expect(() => objects.add(at("r/blobs/d", 1))).toThrow(/after marking/);
  });

  it("keeps keys as bytes in S3's order (UTF-8), with objects added after a lookup", () => {
    const objects = new ListedObjects();
    // UTF-16 order would put "\u{1F600}" (a surrogate pair) before "\uFF5E"; S3 lists by UTF-8 bytes.
    const keys = ["r/é", "r/\uFF5E", "r/\u{1F600}", "r/\u{1F601}"];
    for (const [i, key] of keys.entries()) objects.add(at(key, i));
    expect([...objects].map((o) => o.key)).toEqual(keys);
    expect(objects.get("r/\u{1F600}")?.size).toBe(2);
    expect(objects.has("r/\u{1F602}")).toBe(false);
    expect(objects.has("s/é")).toBe(false);
    // Two keys sharing half of a surrogate pair: the shared prefix does not split it.
    const pair = new ListedObjects();
    pair.add(at("\u{1F600}", 1));
    pair.add(at("\u{1F601}", 2));
    expect([...pair].map((o) => [o.key, o.size])).toEqual([
      ["\u{1F600}", 1],
      ["\u{1F601}", 2],
    ]);
    pair.add(at("a", 3));
    expect([...pair].map((o) => o.key)).toEqual(["a", "\u{1F600}", "\u{1F601}"]);
    expect(pair.get("\u{1F601}")?.size).toBe(2);
  });

  it("is empty when nothing was listed", () => {
    const objects = new ListedObjects();
    expect(objects.size).toBe(0);
    expect(objects.has("x")).toBe(false);
    expect(objects.firstKey()).toBeUndefined();
    expect([...objects]).toEqual([]);
  });
});
