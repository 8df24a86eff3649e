import type { BlobStore } from "../storage/types.js";
import type { LogFn } from "../crane/load.js";
import type { RegistryAccess } from "./access.js";
import type { ServerConfig } from "./config.js";
import type { Req, Res } from "./http.js";
import type { Metrics } from "./metrics.js";
import type { PullInfo } from "./observe.js";
import type { Snapshot } from "./snapshot.js";
import type { StorageUrlFn } from "./storage-url.js";

/** One request: the snapshot it started with stays its snapshot until it ends. */
export interface RequestContext {
  req: Req;
  res: Res;
  config: ServerConfig;
  snap: Snapshot;
  now: Date;
  storageUrl: StorageUrlFn;
  log: LogFn;
  metrics: Metrics;
  /** Who may do what: call `access.authorizeRequest` before serving or changing a repository. */
  access: RegistryAccess;
  /** Records a pull (statistics, pull event); its promise ends when the event is stored. */
  pulled?: (pull: PullInfo) => Promise<void> | undefined;
  /** The registry's store (serve_content directory or bucket), where one is configured. */
  store?: BlobStore;
  /** Query parameters of the request (parsed on first use). */
  query: URLSearchParams;
}
