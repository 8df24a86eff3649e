import type { WebCatalog, WebOptions } from "./catalog.js";
import type { Account } from "./layout.js";
import type { ConfigCache } from "./model.js";

/** What a page needs about the registry and the visitor. */
export interface ViewContext {
  catalog: WebCatalog;
  configs: ConfigCache;
  options: WebOptions;
  /** `host[:port]` for pull commands. */
  host: string;
  plainHttp: boolean;
  /** The private CA's directory for `--cert-dir` (HTTPS with raas's local CA); undefined otherwise. */
  certDir?: string;
  /** The visitor's login state for the page header (auth on). */
  account?: Account;
  /** Repositories a registry client pulls only after logging in (auth on). */
  needsLogin?: (repository: string) => boolean;
}

/** How long a page waits for configs from storage before rendering what it has. */
export const CONFIG_BUDGET_MS = 400;
