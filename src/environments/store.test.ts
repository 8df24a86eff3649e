import { describe, expect, it } from "vitest";
import { tempDir } from "../../test/helpers/git.js";
import { Outbox } from "../events/outbox.js";
import { makeEvent } from "../events/envelope.js";
import { readBacklog } from "../events/deliver.js";
import { readPullStats } from "../stats/aggregate.js";
import { PullCounter } from "../stats/counters.js";
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

  it("keeps the statistics and events of every environment but the first apart, each exactly", async () => {
    const shared = new LocalStore(await tempDir());
    // Written before environments had records of their own: at the plain keys.
    const before = new PullCounter(shared, "old", () => Date.parse("2026-11-01T10:00:00Z"));
    before.count("acme/app", "1.0");
    await before.flush();
    const test = new EnvironmentStore(shared, "test", false);
    const prod = new EnvironmentStore(shared, "prod", true);
    const now = () => Date.parse("2026-11-30T10:00:00Z");
    const counters = { test: new PullCounter(test, "p1", now), prod: new PullCounter(prod, "p1", now) };
    for (let i = 0; i < 3; i++) counters.test.count("acme/app", "1.0");
    for (let i = 0; i < 5; i++) counters.prod.count("acme/app", "1.0");
    await counters.test.flush();
    await counters.prod.flush();

    const pulls = async (store: EnvironmentStore) =>
      (await readPullStats(store)).map((s) => `${s.day} ${s.tag} ${s.pulls}`);
    // The first environment keeps the plain keys, and so what was counted before the change.
    expect(await pulls(test)).toEqual(["2026-11-01 1.0 1", "2026-11-30 1.0 3"]);
    expect(await pulls(prod)).toEqual(["2026-11-30 1.0 5"]);
    expect(
      (await keys(shared, "_env/")).every((k) => k.startsWith("_env/prod/.raas/stats/pulls/2026-11-30/")),
    ).toBe(true);
    expect(await keys(shared, "_env/")).toHaveLength(1);

    // Each outbox is its own: one environment's delivery never sees the other's batches.
    const event = (tag: string) =>
      makeEvent({
        action: "push",
        target: { mediaType: "m", size: 1, digest: DIGEST, repository: "acme/app", url: "/", tag },
        request: { addr: "", host: "", method: "PUT", useragent: "" },
        source: { addr: "", instanceID: "x" },
      });
    await new Outbox(test, "p1").record(event("test"));
    await new Outbox(prod, "p1").record(event("prod"));
    expect((await readBacklog(test, ["hook"]))[0]?.backlog).toBe(1);
    expect((await readBacklog(prod, ["hook"]))[0]?.backlog).toBe(1);
    expect((await keys(shared, "_env/prod/.raas/events/")).length).toBe(1);
  });
});
