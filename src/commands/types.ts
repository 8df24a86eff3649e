import type { AppRepository } from "../app/app-repository.js";
import type { RegistryEvent } from "../events/envelope.js";
import type { Federation } from "../federation/index.js";
import type { BlobStore } from "../storage/types.js";
import type { Reporter } from "../ui/reporter.js";

/** What every command receives: nothing here reaches for globals. */
export interface CommandContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
  reporter: Reporter;
}

export interface PushDeps {
  store: BlobStore;
  app: AppRepository;
  /** Storage URL of `<repository>/` for the Crane `url` field. */
  repositoryUrl(repository: string): string;
  /** Registry host (and port) as clients write it in a pull reference. */
  registryHost: string;
  /** Registry base URL raas can reach, for waiting on the deploy. */
  registryUrl: string;
  maskLayers: string[];
  /** Publish OCI images as Docker schema 2 (digests change; reported per image). */
  dockerSchema2?: boolean;
  publicRead: boolean;
  concurrency: number;
  /**
   * Deploy the new commit where pushing git is not enough (OpenShift: build + rollout);
   * undefined where the remote deploys on push (local platform: a post-receive hook).
   */
  deploy?: () => Promise<string>;
  /** Store events in the ISV's outbox; undefined when no event endpoint is configured. */
  recordEvents?: (events: RegistryEvent[]) => Promise<void>;
  /** Vendor metadata, the masked set and the descriptor cache (image federation). */
  federation?: () => Promise<Federation>;
}
