/**
 * Listing S3 with transient failures: a proxy answers a share of listing pages with 500 InternalError
 * (a store failing now and then) while the S3 client makes one attempt per call, so only
 * raas's page retries stand between GC and a failed listing. Every object is listed once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { retryTransient } from "../../src/storage/s3-errors.js";
import { S3Store } from "../../src/storage/s3.js";
import { mapLimit } from "../../src/publish/pool.js";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.js";
import { startS3rver, type RunningS3rver } from "../helpers/s3rver.js";

let s3: RunningS3rver;
let proxy: FaultProxy;

beforeAll(async () => {
  s3 = await startS3rver();
  proxy = await startFaultProxy({ target: s3.endpoint, faultRate: 0, kinds: ["internal"], seed: 7 });
});
afterAll(async () => {
  await proxy.stop();
  await s3.stop();
});

describe("listing S3 with transient failures", () => {
  it("retries a failed page from its marker and lists every object once, past the first 1,000 keys", async () => {
    const direct = new S3Store({ bucket: "listing", endpoint: s3.endpoint, credentials: s3.credentials });
    await direct.createBucket();
    const keys = Array.from({ length: 2300 }, (_, i) => `acme-app/blobs/k${String(i).padStart(5, "0")}`);
    await mapLimit(keys, 16, (key) => direct.put(key, Buffer.from(key)));
    const flaky = new S3Store({
      bucket: "listing",
      endpoint: proxy.endpoint,
      credentials: s3.credentials,
      maxAttempts: 1,
    });
    proxy.resetStats();
    proxy.setFaultRate(0.3);
    const listed: string[] = [];
    for await (const object of flaky.list("")) listed.push(object.key);
    proxy.setFaultRate(0);
    expect(proxy.stats().faults.internal).toBeGreaterThan(0);
    expect(listed).toEqual(keys);
    await direct.close();
    await flaky.close();
  }, 180_000);

  it("gives up after its retries, and never retries what is not transient", async () => {
    let calls = 0;
    const sleep = () => Promise.resolve();
    const internal = Object.assign(new Error("We encountered an internal error"), {
      name: "InternalError",
      $metadata: { httpStatusCode: 500 },
    });
    await expect(
      retryTransient(
        () => {
          calls++;
          return Promise.reject(internal);
        },
        3,
        1,
        sleep,
      ),
    ).rejects.toBe(internal);
    expect(calls).toBe(4);
    calls = 0;
    const denied = Object.assign(new Error("Access Denied"), {
      name: "AccessDenied",
      $metadata: { httpStatusCode: 403 },
    });
    await expect(
      retryTransient(
        () => {
          calls++;
          return Promise.reject(denied);
        },
        3,
        1,
        sleep,
      ),
    ).rejects.toBe(denied);
    expect(calls).toBe(1);
  });
});
