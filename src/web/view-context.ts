import type { WebCatalog, WebOptions } from "./catalog.js";
import type { ConfigCache } from "./model.js";

/** What a page needs about the registry and the visitor. */
export interface ViewContext {
  catalog: WebCatalog;
  configs: ConfigCache;
  options: WebOptions;
  /** `host[:port]` for pull commands. */
  host: string;
  plainHttp: boolean;
}

/** How long a page waits for configs from storage before rendering what it has. */
export const CONFIG_BUDGET_MS = 400;
