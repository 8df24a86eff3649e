import type { AppRepository } from "../app/app-repository.js";
import type { Platform } from "../app/platform.js";
import type { RegistryClient, RegistryTlsHint } from "../app/registry-http.js";
import type { RegistryEvent } from "../events/envelope.js";
import type { Federation } from "../federation/index.js";
import type { BlobStore } from "../storage/types.js";
import type { Reporter } from "../ui/reporter.js";

export type { RegistryTlsHint } from "../app/registry-http.js";

/** What every command receives: nothing here reaches for globals. */
export interface CommandContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
  reporter: Reporter;
  /** Aborted when the user asks the run to stop (SIGINT/SIGTERM). */
  signal?: AbortSignal;
}

export interface PushDeps {
  store: BlobStore;
  app: AppRepository;
  /** Storage URL of `<repository>/` for the Crane `url` field. */
  repositoryUrl(repository: string): string;
  /** Registry host (and port) as clients write it in a pull reference. */
  registryHost: string;
  /**
   * How the notification and `--wait` reach the registry: its CA (HTTPS) and raas's login
   * (registryClientFor). Required: a plain fetch fails on raas's own CA.
   */
  registry: () => Promise<RegistryClient>;
  /** How clients trust the registry, for the pull commands shown (registryTlsHint). */
  registryTls: RegistryTlsHint;
  /** Where the registry runs: its URL (waiting on the deploy) and the deploy after a publication. */
  platform: Platform;
  maskLayers: string[];
  /** Publish OCI images as Docker schema 2 (digests change; reported per image). */
  dockerSchema2?: boolean;
  /** Bound on one v1 layer's uncompressed size while converting it. */
  maxInflatedLayer?: number;
  publicRead: boolean;
  concurrency: number;
  /** Store events in the ISV's outbox; undefined when no event endpoint is configured. */
  recordEvents?: (events: RegistryEvent[]) => Promise<void>;
  /** Vendor metadata, the masked set and the descriptor cache (image federation). */
  federation?: () => Promise<Federation>;
}
