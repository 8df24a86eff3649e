/**
 * Public redirect mode at setup: clients fetch blobs from storage without credentials, so
 * every object must be readable anonymously. Objects written while the ISV used presigned
 * redirects are private; setup finds that from a sample (asking as an anonymous client) and
 * marks every object public-read, or, where objects do not carry public-read (a bucket policy
 * is meant to allow reads), refuses with what to change.
 */
import { UserError } from "../errors.js";
import { mapLimit } from "../publish/pool.js";
import type { BlobStore } from "../storage/types.js";

/** Objects asked anonymously: the first, the middle and the last key. */
const SAMPLE = 3;

export async function ensureAnonymousReads(
  store: BlobStore,
  options: { isv: string; publicRead: boolean; progress?: (text: string) => void },
): Promise<string | undefined> {
  const anonymousUrl = store.anonymousUrl?.bind(store);
  if (anonymousUrl === undefined) return undefined;
  const keys: string[] = [];
  for await (const object of store.list("")) keys.push(object.key);
  if (keys.length === 0) return undefined;
  const sample = [...new Set([0, Math.floor(keys.length / 2), keys.length - 1])]
    .slice(0, SAMPLE)
    .map((i) => keys[i] as string);
  const answers = await mapLimit(sample, SAMPLE, async (key) => {
    const response = await fetch(anonymousUrl(key), { method: "HEAD", signal: AbortSignal.timeout(10_000) });
    return response.ok ? undefined : `${key} answered ${response.status}`;
  });
  const denied = answers.filter((a): a is string => a !== undefined);
  if (denied.length === 0) return undefined;
  const makePublicRead = store.makePublicRead?.bind(store);
  if (!options.publicRead || makePublicRead === undefined) {
    throw new UserError(
      `${options.isv} uses public redirects, but ${denied.length} of ${sample.length} objects sampled in ${store.container} cannot be read anonymously (${denied[0] ?? ""})`,
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
