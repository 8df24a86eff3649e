import { describe, expect, it } from "vitest";
import { tempDir } from "../../test/helpers/git.js";
import { LocalStore } from "../storage/local.js";
import { EnvironmentStore, isPerEnvironmentKey } from "./store.js";

const DIGEST = `sha256:${"a".repeat(64)}`;

async function keys(store: { list(prefix: string): AsyncIterable<{ key: string }> }, prefix = "") {
  const out: string[] = [];
  for await (const object of store.list(prefix)) out.push(object.key);
  return out;
}

describe("an environment's view of a shared store", () => {
  it("tells tag objects and tags/list (per environment) from content-addressed keys (shared)", () => {
    expect(isPerEnvironmentKey("acme-app/manifests/2/1.0")).toBe(true);
    expect(isPerEnvironmentKey("acme-app/manifests/list/latest")).toBe(true);
    expect(isPerEnvironmentKey("acme-app/tags/list")).toBe(true);
    expect(isPerEnvironmentKey(`acme-app/manifests/2/${DIGEST}`)).toBe(false);
    expect(isPerEnvironmentKey(`acme-app/blobs/${DIGEST}`)).toBe(false);
    expect(isPerEnvironmentKey("acme-app/0123abcd/layer")).toBe(false);
    expect(isPerEnvironmentKey(".raas/stats/x.json")).toBe(false);
  });

  it("keeps each environment's tags apart and shares everything else", async () => {
    const shared = new LocalStore(await tempDir());
    const test = new EnvironmentStore(shared, "test");
    const prod = new EnvironmentStore(shared, "prod");
    await test.put(`acme-app/blobs/${DIGEST}`, Buffer.from("layer"));
    await test.put("acme-app/manifests/2/1.0", Buffer.from("test 1.0"));
    await prod.put("acme-app/manifests/2/1.0", Buffer.from("prod 1.0"));
    await test.put("acme-app/tags/list", Buffer.from("{}"));

    expect((await test.getBuffer("acme-app/manifests/2/1.0")).toString()).toBe("test 1.0");
    expect((await prod.getBuffer("acme-app/manifests/2/1.0")).toString()).toBe("prod 1.0");
    expect(await prod.head(`acme-app/blobs/${DIGEST}`)).toMatchObject({ size: 5 });
    expect(await prod.head("acme-app/tags/list")).toBeUndefined();

    // Listings merge the shared keys with the environment's own, in key order, under their plain names.
    expect(await keys(test, "acme-app/")).toEqual([
      `acme-app/blobs/${DIGEST}`,
      "acme-app/manifests/2/1.0",
      "acme-app/tags/list",
    ]);
    expect(await keys(prod)).toEqual([`acme-app/blobs/${DIGEST}`, "acme-app/manifests/2/1.0"]);
    // The shared store holds each environment's tags under _env/<env>/, where GC never looks.
    expect(await keys(shared)).toEqual([
      "_env/prod/acme-app/manifests/2/1.0",
      "_env/test/acme-app/manifests/2/1.0",
      "_env/test/acme-app/tags/list",
      `acme-app/blobs/${DIGEST}`,
    ]);
    await prod.delete("acme-app/manifests/2/1.0");
    expect((await test.getBuffer("acme-app/manifests/2/1.0")).toString()).toBe("test 1.0");
  });
});
