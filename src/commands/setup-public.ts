/**
 * Public redirect mode at setup: clients fetch blobs from storage without credentials, so
 * every object must be readable anonymously. Objects written while the ISV used presigned
 * redirects are private; setup finds that by asking as an anonymous client (every object up to
 * CHECKED, else CHECKED of them spread evenly over the listing) and marks every object
 * public-read, or, where objects do not carry public-read (a bucket policy is meant to allow
 * reads), refuses with what to change. Asking every object of a usual store means that when
 * `raas status` finds a single private blob and names setup as the fix, setup does find it.
 */
import { UserError } from "../errors.js";
import { mapLimit } from "../publish/pool.js";
import type { BlobStore } from "../storage/types.js";

/** Objects asked anonymously at most (a HEAD each, CONCURRENCY at a time). */
const CHECKED = 2_000;
const CONCURRENCY = 16;

export async function ensureAnonymousReads(
  store: BlobStore,
  options: { isv: string; publicRead: boolean; progress?: (text: string) => void },
): Promise<string | undefined> {
  const anonymousUrl = store.anonymousUrl?.bind(store);
  if (anonymousUrl === undefined) return undefined;
  const keys: string[] = [];
  for await (const object of store.list("")) keys.push(object.key);
  if (keys.length === 0) return undefined;
  const sample = keysToCheck(keys);
  const answers = await mapLimit(sample, CONCURRENCY, async (key) => {
    const response = await fetch(anonymousUrl(key), { method: "HEAD", signal: AbortSignal.timeout(10_000) });
    return response.ok ? undefined : `${key} answered ${response.status}`;
  });
  const denied = answers.filter((a): a is string => a !== undefined);
  if (denied.length === 0) return undefined;
  const makePublicRead = store.makePublicRead?.bind(store);
  if (!options.publicRead || makePublicRead === undefined) {
    throw new UserError(
      `${options.isv} uses public redirects, but ${denied.length} of ${sample.length} objects checked in ${store.container} cannot be read anonymously (${denied[0] ?? ""})`,
      {
        hint:
          "Allow anonymous s3:GetObject on the bucket in its bucket policy (docs/storage.md, Public redirects), " +
          `or set public_read = true in [s3] so \`raas setup ${options.isv}\` marks the objects public-read, or use redirect = presigned.`,
        code: "STORAGE_NOT_PUBLIC",
      },
    );
  }
  let done = 0;
  await mapLimit(keys, 8, async (key) => {
    await makePublicRead(key);
    done++;
    if (done % 100 === 0) options.progress?.(`marked ${done}/${keys.length} object(s) public-read`);
  });
  return `marked ${keys.length} object(s) public-read (written private, e.g. while redirects were presigned)`;
}

/** Every key up to CHECKED; beyond that, CHECKED keys spread evenly from the first on. */
export function keysToCheck(keys: readonly string[]): string[] {
  if (keys.length <= CHECKED) return [...keys];
  return Array.from({ length: CHECKED }, (_, i) => keys[Math.floor((i * keys.length) / CHECKED)] as string);
}
