/** Wiring of `raas delete` and `raas gc`: configuration in, plain dependencies to the commands. */
import type { GitAppRepository } from "../app/app-transaction.js";
import type { Platform } from "../app/platform.js";
import type { RegistryClient } from "../app/registry-http.js";
import type { DeleteResult } from "../commands/delete.js";
import type { GcResult } from "../commands/gc.js";
import type { CommandContext } from "../commands/types.js";
import { parseDuration } from "../lifecycle/duration.js";
import type { BlobStore } from "../storage/types.js";
import type { Invocation } from "./program.js";
import type { RegistryEvent } from "../events/envelope.js";
import { recordEvents } from "../events/push-events.js";
import type { RetentionRule } from "../lifecycle/retention.js";
import type { RetentionResult } from "../commands/retention.js";

type LifecycleInvocation = Extract<Invocation, { command: "delete" | "gc" }>;

export async function runLifecycle(
  invocation: LifecycleInvocation,
  platform: Platform,
  store: BlobStore,
  ctx: CommandContext,
  /** The ISV's app repository, or (with a remote) another environment's. */
  appRepository: (remote?: string) => GitAppRepository,
  /** The ISV's retention rules, and whether event endpoints are configured (docs/events.md). */
  settings: { retention: RetentionRule[]; events: boolean } = { retention: [], events: false },
  /** How `--wait` reaches the registry (its CA over HTTPS, raas's login). */
  registry: () => Promise<RegistryClient>,
): Promise<{ command: "delete"; result: DeleteResult } | { command: "gc"; result: GcResult }> {
  if (invocation.command === "delete") {
    const app = appRepository();
    try {
      const { deleteImage } = await import("../commands/delete.js");
      const timeoutMs = invocation.options.timeout * 1000;
      const deploy = platform.deployAfterPublish;
      const result = await deleteImage(
        {
          isv: invocation.isv,
          reference: invocation.reference,
          dryRun: invocation.options.dryRun,
          wait: invocation.options.wait && !invocation.options.dryRun,
          timeoutSeconds: invocation.options.timeout,
        },
        ctx,
        {
          app,
          store,
          registryUrl: platform.appUrl,
          registry,
          ...(deploy === undefined ? {} : { deploy: () => deploy(timeoutMs) }),
          ...(settings.events
            ? { recordEvents: (events: RegistryEvent[]) => recordEvents(store, events) }
            : {}),
          // Access rules (who may delete what) plug in here as `authorize` once they exist.
        },
      );
      return { command: "delete", result };
    } finally {
      await app.close();
    }
  }
  const apps = [appRepository(), ...invocation.options.alsoApp.map((remote) => appRepository(remote))];
  try {
    let retention: RetentionResult | undefined;
    if (invocation.options.retention) {
      // Tags first (one commit, events), then the sweep: the grace window still marks what the
      // deleted tags referenced, so their blobs are freed by a later run, past the grace period.
      const { applyRetention } = await import("../commands/retention.js");
      const deploy = platform.deployAfterPublish;
      const timeoutMs = invocation.options.timeout * 1000;
      retention = await applyRetention(
        { isv: invocation.isv, dryRun: invocation.options.dryRun, rules: settings.retention },
        ctx,
        {
          app: apps[0] as GitAppRepository,
          store,
          registryUrl: platform.appUrl,
          ...(deploy === undefined ? {} : { deploy: () => deploy(timeoutMs) }),
          ...(settings.events
            ? { recordEvents: (events: RegistryEvent[]) => recordEvents(store, events) }
            : {}),
        },
      );
    }
    const { gc } = await import("../commands/gc.js");
    const result = await gc(
      {
        isv: invocation.isv,
        dryRun: invocation.options.dryRun,
        ...(invocation.options.grace === undefined
          ? {}
          : {
              graceMs: parseDuration(invocation.options.grace, "--grace"),
              graceText: invocation.options.grace,
            }),
        unsafeGrace: invocation.options.unsafeGrace,
        ...(invocation.options.uploadAge === undefined
          ? {}
          : {
              uploadAgeMs: parseDuration(invocation.options.uploadAge, "--upload-age"),
              uploadAgeText: invocation.options.uploadAge,
            }),
      },
      ctx,
      { store, apps },
    );
    return { command: "gc", result: retention === undefined ? result : { ...result, retention } };
  } finally {
    for (const app of apps) await app.close();
  }
}
