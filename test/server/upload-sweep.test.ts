/**
 * Sweeping abandoned upload sessions, on local storage and on S3 (s3rver): a session untouched
 * for longer than the age is removed (on S3 its multipart upload aborted), a younger one is
 * kept, and of two sweepers sharing a store only the lease holder sweeps.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UPLOADS_PREFIX } from "../../src/storage/upload-keys.js";
import { UploadSessions } from "../../src/server/upload-sessions.js";
import { UploadSweeper } from "../../src/server/upload-sweep.js";
import { LocalStore } from "../../src/storage/local.js";
import { S3Store } from "../../src/storage/s3.js";
import type { BlobStore } from "../../src/storage/types.js";
import { startS3rver, type RunningS3rver } from "../helpers/s3rver.js";

const MIB = 1024 * 1024;
let s3: RunningS3rver;
let dir: string;
const sent: { command: string; uploadId?: string }[] = [];

const stores: Record<string, () => BlobStore> = {
  local: () => new LocalStore(dir),
  s3: () => {
    const store = new S3Store({ bucket: "raas", endpoint: s3.endpoint, credentials: s3.credentials });
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { UploadId?: string };
        sent.push({
          command: context.commandName ?? "",
          ...(input.UploadId === undefined ? {} : { uploadId: input.UploadId }),
        });
        return next(args);
      },
      { step: "initialize", name: "recordCommands" },
    );
    return store;
  },
};

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ["raas"] });
  dir = await mkdtemp(join(tmpdir(), "raas-sweep-"));
});
afterAll(async () => {
  await s3.stop();
  await rm(dir, { recursive: true, force: true });
});

async function sessionIds(store: BlobStore): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const object of store.list(UPLOADS_PREFIX)) {
    ids.add(object.key.slice(UPLOADS_PREFIX.length).split("/")[0]!);
  }
  return ids;
}

describe.each(Object.keys(stores))("sweeping upload sessions (%s)", (kind) => {
  it("removes sessions untouched for longer than the age, keeps younger ones, one sweeper at a time", async () => {
    const store = stores[kind]!();
    const sessions = new UploadSessions(store, 100 * MIB);
    const old = await sessions.start("acme-old", new Date());
    const oldState = await sessions.append(
      old,
      (await sessions.current(old, "acme-old"))!,
      Readable.from([Buffer.alloc(9 * MIB, 1)]),
    );
    // Storage times have one-second precision on S3: make the two sessions' ages clearly apart.
    await new Promise((r) => setTimeout(r, 2500));
    const young = await sessions.start("acme-young", new Date());
    expect(await sessionIds(store)).toEqual(new Set([old, young]));

    const options = { maxAgeMs: 1500, intervalMs: 60_000, settleMs: 100 };
    const a = new UploadSweeper(store, sessions, { ...options, owner: "a" }, () => undefined);
    const b = new UploadSweeper(store, sessions, { ...options, owner: "b" }, () => undefined);
    const [ra, rb] = await Promise.all([a.runOnce(), b.runOnce()]);
    // Exactly one holds the lease and sweeps the one old session.
    expect([ra, rb].filter((r) => r !== undefined)).toEqual([1]);
    expect(await sessionIds(store)).toEqual(new Set([young]));
    expect(await sessions.current(old, "acme-old")).toBeUndefined();
    expect((await sessions.current(young, "acme-young"))?.offset).toBe(0);
    if (kind === "s3") {
      expect(oldState.multipart).toBeDefined();
      expect(sent.filter((s) => s.command === "AbortMultipartUploadCommand").map((s) => s.uploadId)).toEqual([
        oldState.multipart?.uploadId,
      ]);
    }
    // Both stop; the holder releases the lease.
    await (ra === undefined ? b : a).stop();
    await (ra === undefined ? a : b).stop();
    await store.close();
  }, 60_000);
});
