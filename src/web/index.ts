import type { Snapshot } from "./snapshot-catalog.js";
import type { WebOptions } from "./catalog.js";
import { createWebHandler, type WebHandler } from "./handler.js";
import { snapshotCatalog } from "./snapshot-catalog.js";
import { storageReader } from "./storage-reader.js";

export type {
  CanPull,
  DailyPulls,
  EnvironmentInfo,
  LoginResult,
  Visitor,
  WebAuth,
  WebCatalog,
  WebOptions,
} from "./catalog.js";
export { createWebHandler, wantsHtml, type WebHandler } from "./handler.js";

/** What the registry server hands the page: its live snapshot and its own way to reach storage. */
export interface WebMount {
  snapshot: () => Snapshot;
  /** serve_content directory for v2 content, when the server serves files itself. */
  contentDir?: string;
  /** The URL the server would redirect a client to for a storage key (public or presigned). */
  storageUrl?: (key: string, repoUrl: string) => Promise<string>;
  log?: (message: string) => void;
  options?: WebOptions;
}

/** The `/ui/` handler over the server's snapshot. */
export function createWebUi(mount: WebMount): WebHandler {
  const reader = storageReader({
    ...(mount.contentDir === undefined ? {} : { contentDir: mount.contentDir }),
    ...(mount.storageUrl === undefined ? {} : { urlFor: mount.storageUrl }),
    ...(mount.log === undefined ? {} : { log: mount.log }),
  });
  return createWebHandler(snapshotCatalog(mount.snapshot, reader), mount.options);
}
