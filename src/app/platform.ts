/**
 * Where an ISV's registry app runs. Commands see a platform only through this interface; the
 * two implementations are the local platform (a bare git remote whose hook deploys into a
 * directory, and a background server process) and OpenShift (build from git, rollout, route).
 */
import type { IsvSettings } from "../config/types.js";
import type { Reporter } from "../ui/reporter.js";
import type { ProbeAnswer } from "./ping.js";

/** What a setup step did: `changed` is false when everything was already as it should be. */
export interface StepResult {
  changed: boolean;
  detail: string;
}

/** One finding of `raas status` about the platform. */
export interface PlatformCheck {
  name: string;
  status: "ok" | "fail" | "warn";
  detail: string;
  /** What the user can do about a failure. */
  fix?: string;
}

/** A registry served in the foreground until `until` resolves. */
export interface ForegroundServe {
  url: string;
  /** Stop accepting connections and finish the requests in flight. */
  close(): Promise<void>;
}

export interface Platform {
  readonly kind: "local" | "openshift";
  /** Where clients reach the registry, without a trailing slash. */
  readonly appUrl: string;
  /** The server runs on this machine: `setup --no-start` may leave it stopped. */
  readonly localServer: boolean;
  /** Why the ISV is not set up here (no app repository, no deployment); undefined when it is. */
  notSetUp(): Promise<string | undefined>;
  /** Make sure the platform is ready for the app (local: bare repo + deploy hook; OpenShift: project + resources). */
  ensureDeployment(): Promise<StepResult>;
  /**
   * The registry's TLS certificate, where raas makes it (local: from its local CA, renewed when
   * close to expiry or when host names change); undefined where TLS ends elsewhere (a Route).
   */
  readonly ensureTls?: () => Promise<StepResult>;
  /** Render the app repository from templates, commit and push when it changed. */
  ensureAppRepo(): Promise<{ changed: boolean; commit?: string; remote: string }>;
  /** Run the current app version (local: start or restart the server; OpenShift: build and roll out). */
  ensureRunning(timeoutMs: number, progress: (text: string) => void): Promise<StepResult>;
  /** Wait until /v1/_ping and /v2/ answer as a healthy registry; what they answered then. */
  waitForPing(timeoutMs: number): Promise<ProbeAnswer>;
  /**
   * After a publication was pushed to the app repository: deploy it where pushing git is not
   * enough (OpenShift: build + rollout). Undefined where the remote deploys on push (local hook).
   */
  readonly deployAfterPublish?: (timeoutMs: number) => Promise<string>;
  /** For `raas status`: the deployment and the process or rollout that serves it. */
  statusChecks(): Promise<PlatformCheck[]>;
  /**
   * Serve the deployed registry from this process (`raas serve`); undefined where the platform
   * runs it elsewhere.
   */
  readonly serveForeground?: (options: {
    host?: string;
    port?: number;
    reporter: Reporter;
  }) => Promise<ForegroundServe>;
}

/** The ISV's platform, its module loaded only when the ISV uses it. */
export async function openPlatform(settings: IsvSettings, reporter: Reporter): Promise<Platform> {
  if (settings.platform.kind === "openshift") {
    const { OpenShiftPlatform } = await import("./openshift-platform.js");
    return new OpenShiftPlatform(settings, reporter);
  }
  const { LocalPlatform } = await import("./local-platform.js");
  return new LocalPlatform(settings, reporter);
}
