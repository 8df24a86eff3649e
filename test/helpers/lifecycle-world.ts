/**
 * The setting of the lifecycle tests (gc, retention): each runs on both real stores, a temp
 * directory and s3rver on loopback, against a real bare git app remote, with the commands called
 * in process.
 */
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { GitAppRepository } from "../../src/app/app-transaction.js";
import type { AppRepository } from "../../src/app/app-repository.js";
import { registryTrust } from "../../src/app/registry-http.js";
import { push } from "../../src/commands/push.js";
import { LocalStore } from "../../src/storage/local.js";
import { S3Store } from "../../src/storage/s3.js";
import type { BlobStore } from "../../src/storage/types.js";
import { RecordingReporter } from "../../src/ui/reporter.js";
import { tempDir, tempGitRemote } from "./git.js";
import { stubPlatform } from "./platform.js";
import { startS3rver, type RunningS3rver } from "./s3rver.js";

export type StoreCase = [label: string, open: (dir: string) => Promise<BlobStore>];

/**
 * The two stores, for `describe.each`: call at the top of a test file; it starts s3rver before
 * the file's tests and stops it after them. Each S3 store is a fresh bucket `<prefix>-<n>`.
 */
export function bothStores(bucketPrefix: string): StoreCase[] {
  let s3: RunningS3rver | undefined;
  let bucket = 0;
  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(async () => {
    await s3?.stop();
  });
  return [
    ["local storage", (dir) => Promise.resolve(new LocalStore(join(dir, "store")))],
    [
      "S3 (s3rver)",
      async () => {
        if (s3 === undefined) throw new Error("s3rver is not running (bothStores outside a test file?)");
        bucket += 1;
        const store = new S3Store({
          bucket: `${bucketPrefix}-${bucket}`,
          endpoint: s3.endpoint,
          credentials: s3.credentials,
          maxAttempts: 2,
        });
        await store.createBucket();
        return store;
      },
    ],
  ];
}

/** Every key under `prefix`, sorted. */
export async function storeKeys(store: BlobStore, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const object of store.list(prefix)) out.push(object.key);
  return out.sort();
}

/** `push` in process into `store` and `app`, with no registry to wait for. */
export function pushInProcess(
  isv: string,
  imagePath: string,
  ctx: Parameters<typeof push>[1],
  store: BlobStore,
  app: AppRepository,
): ReturnType<typeof push> {
  return push({ isv, image: imagePath, wait: false, timeoutSeconds: 5 }, ctx, {
    store,
    app,
    repositoryUrl: (r) => `https://storage.invalid/${r}/`,
    registryHost: "registry.invalid",
    registry: () => Promise.resolve({ ...registryTrust(undefined), login: undefined }),
    registryTls: { tls: false },
    platform: stubPlatform("http://127.0.0.1:9"),
    maskLayers: [],
    publicRead: false,
    concurrency: 2,
  });
}

/** One test's world: a work directory, a store, an app remote, and push into them. */
export async function lifecycleWorld(isv: string, openStore: StoreCase[1], dirPrefix: string) {
  const dir = await tempDir(dirPrefix);
  const store = await openStore(dir);
  const { remote } = await tempGitRemote();
  const reporter = new RecordingReporter();
  const ctx = { cwd: dir, env: {}, reporter };
  /** A fresh clone of the app remote for `use`, closed after it. */
  const withApp = async <T>(use: (a: GitAppRepository) => Promise<T>): Promise<T> => {
    const a = new GitAppRepository({ remote, branch: "main", reporter });
    try {
      return await use(a);
    } finally {
      await a.close();
    }
  };
  const pushImage = (imagePath: string) => withApp((a) => pushInProcess(isv, imagePath, ctx, store, a));
  return { dir, store, remote, reporter, ctx, withApp, pushImage };
}
