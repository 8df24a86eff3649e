import { open } from "node:fs/promises";
import { join } from "node:path";
import type { StorageReader } from "./snapshot-catalog.js";
import { BodyTooLargeError, discardBody, readCapped } from "../adapters/http-body.js";

export interface StorageReaderOptions {
  /** serve_content mode: objects are files below this directory. */
  contentDir?: string;
  /** Otherwise: where the server would redirect a client for `key` (public or presigned URL). */
  urlFor?: (key: string, repoUrl: string) => Promise<string>;
  timeoutMs?: number;
  log?: (message: string) => void;
}

/** Storage keys are built from validated names and digests; refuse anything else all the same. */
const KEY_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*\/(?:blobs|manifests\/(?:2|list))\/sha256:[a-f0-9]{64}$/;

async function readFileCapped(path: string, maxBytes: number): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch {
    return undefined;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile() || stats.size > maxBytes) return undefined;
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

async function fetchCapped(url: string, maxBytes: number, timeoutMs: number): Promise<Buffer | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) {
    await discardBody(res);
    return undefined;
  }
  return readCapped(res, maxBytes).catch((err: unknown) => {
    if (err instanceof BodyTooLargeError) return undefined;
    throw err;
  });
}

/**
 * The server reads configs and manifests the way it tells clients to: from the serve_content
 * directory, or from the URL it would redirect to. The URL is used here only and never written
 * into a page.
 */
export function storageReader(options: StorageReaderOptions): StorageReader {
  const timeoutMs = options.timeoutMs ?? 5000;
  const log = options.log ?? (() => undefined);
  return {
    async read(key, repoUrl, maxBytes) {
      if (!KEY_RE.test(key)) return undefined;
      try {
        if (options.contentDir !== undefined) {
          return await readFileCapped(join(options.contentDir, key), maxBytes);
        }
        if (options.urlFor === undefined) return undefined;
        return await fetchCapped(await options.urlFor(key, repoUrl), maxBytes, timeoutMs);
      } catch (err) {
        // The reason may carry the storage URL: log only the key.
        log(`web page: cannot read ${key} from storage (${(err as Error).name})`);
        return undefined;
      }
    },
  };
}
