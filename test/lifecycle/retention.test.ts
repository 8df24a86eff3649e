/**
 * Retention rules and upload sessions against real stores (a temp directory and s3rver on
 * loopback) and a real git app repository: `raas gc --retention` deletes, in one commit and with
 * a delete event per tag, exactly the tags no rule keeps (newest N, pattern, pulled lately from
 * the statistics), --dry-run deletes nothing; GC never touches `.raas-uploads/`, and
 * `--upload-age` removes only sessions idle for longer than the age.
 */
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { gc } from "../../src/commands/gc.js";
import { applyRetention } from "../../src/commands/retention.js";
import { lifecycleStatusChecks } from "../../src/commands/status-lifecycle.js";
import type { RetentionRule } from "../../src/config/retention.js";
import type { RegistryEvent } from "../../src/events/envelope.js";
import { OUTBOX_PREFIX } from "../../src/events/outbox.js";
import { recordEvents } from "../../src/events/push-events.js";
import { UploadSessions } from "../../src/server/upload-sessions.js";
import { PullCounter } from "../../src/stats/counters.js";
import type { BlobStore } from "../../src/storage/types.js";
import { gitOut } from "../helpers/git.js";
import { buildDockerArchive } from "../helpers/image-builder.js";
import { bothStores, lifecycleWorld, storeKeys } from "../helpers/lifecycle-world.js";

const HOUR = 3_600_000;
const ISV = "ret";
const stores = bothStores("ret");

async function outboxEvents(store: BlobStore): Promise<RegistryEvent[]> {
  const events: RegistryEvent[] = [];
  for (const key of await storeKeys(store, OUTBOX_PREFIX)) {
    events.push(
      ...(JSON.parse((await store.getBuffer(key)).toString("utf8")) as { events: RegistryEvent[] }).events,
    );
  }
  return events;
}

describe.each(stores)("retention and upload sessions on %s", (_label, openStore) => {
  async function world() {
    const base = await lifecycleWorld(ISV, openStore, "raas-ret-");
    const { dir, store, remote, ctx, withApp: use } = base;
    const pushTag = async (name: string, tag: string) => {
      const image = await buildDockerArchive(join(dir, `${name.replace("/", "-")}-${tag}.tar`), {
        name,
        tag,
        layers: 1,
        layerSize: 1000 + tag.length,
      });
      await base.pushImage(image.path);
    };
    const retention = (rules: RetentionRule[], dryRun: boolean) =>
      use((a) =>
        applyRetention({ isv: ISV, dryRun, rules }, ctx, {
          app: a,
          store,
          registryUrl: "http://registry.invalid",
          recordEvents: (events) => recordEvents(store, events),
        }),
      );
    const tagsOf = async (name: string) =>
      use(async (a) => {
        const text = await a.read(`data/${ISV}-${name.replace("/", "-")}.json`);
        if (text === undefined) return undefined;
        return Object.keys(
          (JSON.parse(text) as { "x-raas": { tags: Record<string, string> } })["x-raas"].tags,
        ).sort();
      });
    const commits = () => Promise.resolve(gitOut(remote, ["rev-list", "--count", "main"]).trim());
    return { dir, store, ctx, use, pushTag, retention, tagsOf, commits };
  }

  it("status says when it cannot read storage, never that all is well", async () => {
    const w = await world();
    const broken: BlobStore = Object.create(w.store, {
      list: {
        value: () => ({
          [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error("listing refused")) }),
        }),
      },
      head: { value: () => Promise.reject(new Error("head refused")) },
    }) as BlobStore;
    expect(await lifecycleStatusChecks(ISV, broken)).toEqual([
      { name: "retention", status: "warn", detail: "cannot read the last retention run: head refused" },
      { name: "upload sessions", status: "warn", detail: "cannot list upload sessions: listing refused" },
    ]);
    await w.store.put(".raas-gc/retention.json", Buffer.from("{not json"));
    expect((await lifecycleStatusChecks(ISV, w.store))[0]?.status).toBe("warn");
  }, 60_000);

  it("deletes in one commit exactly the tags no rule keeps, with a delete event each; --dry-run deletes nothing", async () => {
    const w = await world();
    for (const tag of ["1.0", "2.0", "3.0", "4.0", "5.0"]) await w.pushTag("acme/app", tag);
    await w.pushTag("other/app", "old");
    // 2.0 was pulled yesterday (statistics flushed by a registry worker).
    const counter = new PullCounter(w.store, "worker-1");
    counter.count("acme/app", "2.0");
    await counter.stop();
    const rules: RetentionRule[] = [
      { name: "newest", repositories: ["acme/*"], tags: ["*"], keepTags: [], keepLast: 2 },
      { name: "firsts", repositories: ["acme/*"], tags: ["*"], keepTags: ["1.*"] },
      {
        name: "pulled",
        repositories: ["acme/*"],
        tags: ["*"],
        keepTags: [],
        keepPulledWithinMs: 30 * 24 * HOUR,
      },
    ];
    const before = await w.commits();
    const retentionLine = async () =>
      (await lifecycleStatusChecks(ISV, w.store)).find((c) => c.name === "retention");
    expect(await retentionLine()).toEqual({
      name: "retention",
      status: "ok",
      detail: "retention has never run (raas gc --retention)",
    });

    const dry = await w.retention(rules, true);
    expect(dry.decisions.filter((d) => d.delete).map((d) => d.tag)).toEqual(["3.0"]);
    const why = Object.fromEntries(dry.decisions.map((d) => [d.tag, d.reasons.join("; ")]));
    expect(why["1.0"]).toBe("kept by firsts: matches 1.*");
    expect(why["2.0"]).toBe("kept by pulled: pulled within 30d");
    expect(why["4.0"]).toBe("kept by newest: among the newest 2");
    expect(why["5.0"]).toBe("kept by newest: among the newest 2");
    expect(why["3.0"]).toBe("no rule keeps it (newest, firsts, pulled apply)");
    expect(dry.decisions.some((d) => d.repository === "other/app")).toBe(false);
    expect(await w.commits()).toBe(before);
    expect(await w.tagsOf("acme/app")).toEqual(["1.0", "2.0", "3.0", "4.0", "5.0"]);
    expect(await outboxEvents(w.store)).toEqual([]);
    // A dry run is not recorded as a run.
    expect((await retentionLine())?.detail).toBe("retention has never run (raas gc --retention)");

    const applied = await w.retention(rules, false);
    expect(applied.deletedTags).toBe(1);
    const line = await retentionLine();
    expect(line?.status).toBe("ok");
    expect(line?.detail).toMatch(
      /^last retention run \d{4}-\d\d-\d\dT[\d:.]+Z \(rules newest, firsts, pulled\) deleted 1 tag\(s\): acme\/app:3\.0$/,
    );
    expect(Number(await w.commits())).toBe(Number(before) + 1);
    expect(await w.tagsOf("acme/app")).toEqual(["1.0", "2.0", "4.0", "5.0"]);
    expect(await w.tagsOf("other/app")).toEqual(["old"]);
    const list = JSON.parse((await w.store.getBuffer("acme-app/tags/list")).toString("utf8")) as {
      tags: string[];
    };
    expect(list.tags).toEqual(["1.0", "2.0", "4.0", "5.0"]);
    const events = await outboxEvents(w.store);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: "delete",
      target: {
        repository: "acme/app",
        tag: "3.0",
        digest: applied.decisions.find((d) => d.tag === "3.0")?.digest,
      },
      request: { method: "DELETE" },
      source: { instanceID: "raas-cli" },
    });

    // Everything left is kept by a rule: a second run deletes nothing and commits nothing.
    const again = await w.retention(rules, false);
    expect(again.deletedTags).toBe(0);
    expect(again.commit).toBeUndefined();
    expect(Number(await w.commits())).toBe(Number(before) + 1);
    expect((await retentionLine())?.detail).toMatch(/^last retention run .* deleted no tag$/);
  }, 240_000);

  it("never touches .raas-uploads/ in gc; --upload-age removes only sessions idle for longer", async () => {
    const w = await world();
    await w.pushTag("acme/app", "1.0");
    const uploadsLine = async (now?: Date) =>
      (await lifecycleStatusChecks(ISV, w.store, now)).find((c) => c.name === "upload sessions");
    expect(await uploadsLine()).toEqual({
      name: "upload sessions",
      status: "ok",
      detail: "no open upload session",
    });
    const sessions = new UploadSessions(w.store, 10_000_000);
    const idle = await sessions.start("acme-app", new Date());
    const state = await sessions.current(idle, "acme-app");
    if (state === undefined) throw new Error("no session state");
    await sessions.append(idle, state, Readable.from([Buffer.from("abandoned half of a layer")]));
    const idleKeys = await storeKeys(w.store, `.raas-uploads/${idle}/`);
    expect(idleKeys).toHaveLength(2); // its state (each append replaces the one before) and one part
    const stray = ".raas-uploads/not-a-session/readme";
    await w.store.put(stray, Buffer.from("not ours"));
    /** `at`: how far from now gc's clock runs; `clock`: the time it reads instead. */
    const collect = (options: { at: number; clock?: number; uploadAgeMs?: number; dryRun?: boolean }) =>
      w.use((a) =>
        gc(
          {
            isv: ISV,
            dryRun: options.dryRun ?? false,
            graceMs: HOUR,
            unsafeGrace: true,
            ...(options.uploadAgeMs === undefined ? {} : { uploadAgeMs: options.uploadAgeMs }),
          },
          w.ctx,
          { store: w.store, apps: [a], now: () => new Date(options.clock ?? Date.now() + options.at) },
        ),
      );

    // Far past the grace period, GC alone leaves every upload object alone.
    const plain = await collect({ at: 48 * HOUR });
    expect(plain.gc.uploads).toBeUndefined();
    expect(await storeKeys(w.store, ".raas-uploads/")).toEqual([...idleKeys, stray].sort());

    await new Promise((r) => setTimeout(r, 2500));
    const active = await sessions.start("acme-app", new Date());
    // Status sees both sessions, all their bytes, and the idle one's age; a day later it warns.
    const bytesOf = async (id: string) => {
      let n = 0;
      for await (const o of w.store.list(`.raas-uploads/${id}/`)) n += o.size;
      return n;
    };
    const total = (await bytesOf(idle)) + (await bytesOf(active));
    const open = await uploadsLine();
    expect(open?.status).toBe("ok");
    expect(open?.detail).toMatch(
      new RegExp(
        `^2 open upload session\\(s\\), .* \\(${total} bytes\\), the oldest idle for (?:(?:[2-9]|[1-9]\\d+)s|\\d+m \\d+s)$`,
      ),
    );
    const dayLater = await uploadsLine(new Date(Date.now() + 25 * HOUR));
    expect(dayLater?.status).toBe("warn");
    expect(dayLater?.detail).toMatch(/the oldest idle for 1d [01]h$/);
    expect(dayLater?.fix).toBe(`raas gc ${ISV} --upload-age 1d removes sessions idle for longer`);

    // GC's clock one second after the active session's last write (storage dates are whole
    // seconds): the idle session is then at least 2.5 s old, the active one 1 s, however long
    // gc takes to clone and mark on a loaded machine.
    const [activeKey = ""] = await storeKeys(w.store, `.raas-uploads/${active}/`);
    const activeAt = (await w.store.head(activeKey))?.lastModified?.getTime();
    if (activeAt === undefined) throw new Error("no date on the active session's state");
    const clock = activeAt + 1000;
    const dry = await collect({ at: 0, clock, uploadAgeMs: 2000, dryRun: true });
    expect(dry.gc.uploads).toMatchObject({ sessions: 1, objects: 2, active: 1 });
    expect(await storeKeys(w.store, ".raas-uploads/")).toHaveLength(4);

    const swept = await collect({ at: 0, clock, uploadAgeMs: 2000 });
    expect(swept.gc.uploads).toMatchObject({ sessions: 1, objects: 2, active: 1 });
    expect(swept.gc.uploads?.bytes).toBeGreaterThan(0);
    const left = await storeKeys(w.store, ".raas-uploads/");
    expect(left.filter((k) => k.includes(idle))).toEqual([]);
    expect(left).toContain(stray);
    expect(await sessions.current(active, "acme-app")).toBeDefined();

    // Below an hour without --unsafe-grace: refused.
    await expect(
      w.use((a) =>
        gc({ isv: ISV, dryRun: true, graceMs: HOUR, uploadAgeMs: 60_000 }, w.ctx, {
          store: w.store,
          apps: [a],
        }),
      ),
    ).rejects.toThrow(/upload age of 1m is below the safe minimum of 1h/);
  }, 240_000);
});
