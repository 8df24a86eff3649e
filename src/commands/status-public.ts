/**
 * Public redirect mode: the registry answers a blob request with a redirect to the object's
 * plain storage URL, which clients fetch without credentials. An object that is not readable
 * anonymously (uploaded while the ISV used presigned redirects, or a bucket policy that does not
 * allow reads) fails every pull of it with 403, so status asks as an anonymous client would:
 * a sample always, every blob with --verify. The address is Crane's: `<url>blobs/<digest>`.
 */
import type { CraneV4, RaasExtension } from "../crane/types.js";
import { errorMessage } from "../errors.js";
import type { Digest } from "../image/digest.js";
import { blobKey } from "../crane/keys.js";
import { mapLimit } from "../publish/pool.js";
import type { StorageProblem } from "./status-storage.js";

/** Blobs checked per repository without --verify: the first, the middle and the last stored. */
const SAMPLE = 3;

export async function checkAnonymousReads(
  meta: CraneV4 & { "x-raas": RaasExtension },
  objects: Pick<ReadonlyMap<string, unknown>, "has">,
  options: { all: boolean; concurrency: number; isv: string; log?: (line: string) => void },
): Promise<StorageProblem[]> {
  const stored = (Object.entries(meta["x-raas"].blobs) as [Digest, { size: number; url?: string }][])
    .filter(([digest, record]) => record.url === undefined && objects.has(blobKey(meta.repository, digest)))
    .map(([digest]) => digest)
    .sort();
  const chosen = options.all ? stored : sample(stored);
  const base = meta.url.endsWith("/") ? meta.url : `${meta.url}/`;
  const denied = await mapLimit(chosen, options.concurrency, async (digest) => {
    const url = `${base}blobs/${digest}`;
    const started = Date.now();
    try {
      const response = await fetch(url, {
        method: "HEAD",
        redirect: "follow",
        signal: AbortSignal.timeout(10_000),
      });
      options.log?.(`HEAD ${url} (anonymous) -> ${response.status} (${Date.now() - started} ms)`);
      return response.ok ? undefined : `${response.status}`;
    } catch (error) {
      return errorMessage(error);
    }
  }).then((results) =>
    results.flatMap((result, index) => (result === undefined ? [] : [[chosen[index], result]])),
  );
  if (denied.length === 0) return [];
  const [first] = denied;
  return [
    {
      detail:
        `${denied.length} of ${chosen.length} blob(s) checked cannot be read anonymously, as clients must in public ` +
        `redirect mode: ${base}blobs/${String(first?.[0])} answered ${String(first?.[1])}`,
      fix:
        `\`raas setup ${options.isv}\` marks stored objects public-read (or allow anonymous GetObject in a bucket ` +
        "policy, see docs/storage.md)" +
        (options.all ? "" : `; \`raas status ${options.isv} --verify\` checks every blob`),
    },
  ];
}

function sample<T>(items: readonly T[]): T[] {
  if (items.length <= SAMPLE) return [...items];
  const picked = new Set([0, Math.floor(items.length / 2), items.length - 1]);
  return [...picked].map((i) => items[i] as T);
}
