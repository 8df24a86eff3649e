/**
 * Wiring of `raas promote`, `raas demote` and `raas cluster-config`: each environment's context
 * from configuration, plain dependencies to the commands (docs/environments.md).
 */
import type { AppRepository } from "../app/app-repository.js";
import { registryClientFor, registryTlsHint } from "../app/registry-http.js";
import type { Check } from "../commands/checks.js";
import type { IsvContext } from "../commands/context.js";
import type { EnvironmentSide } from "../commands/promote.js";
import type { LoadedConfig } from "../config/index.js";
import { UsageError } from "../errors.js";
import type { Reporter } from "../ui/reporter.js";
import type { EnvInvocation } from "./program-envs.js";
import type { CommandResult } from "./render.js";

export interface EnvironmentWiring {
  config: LoadedConfig;
  /** The context of one environment (undefined: the ISV itself, without environments). */
  open(env: string | undefined): Promise<IsvContext>;
  reporter: Reporter;
  signal: AbortSignal;
}

export async function runEnvironmentCommand(
  invocation: EnvInvocation,
  env: string | undefined,
  wiring: EnvironmentWiring,
): Promise<CommandResult> {
  const opened: IsvContext[] = [];
  const open = async (name: string | undefined) => {
    const ctx = await wiring.open(name);
    opened.push(ctx);
    wiring.signal.addEventListener("abort", () => void ctx.dispose().catch(() => undefined), { once: true });
    return ctx;
  };
  const sides: { close(): Promise<void> }[] = [];
  const side = async (ctx: IsvContext): Promise<EnvironmentSide> => {
    const app = await ctx.app();
    sides.push(app);
    return {
      name: ctx.settings.environment?.name ?? ctx.settings.isv,
      settings: ctx.settings,
      store: await ctx.store(),
      app,
      platform: ctx.platform,
      repositoryUrl: (repository) => ctx.repositoryUrl(repository),
      // The same client and pull hint as push's: this environment's CA and raas's login.
      registry: () => registryClientFor(ctx.settings),
      registryTls: registryTlsHint(ctx.settings),
    };
  };
  try {
    if (invocation.command === "cluster-config") {
      const ctx = await open(env);
      const { clusterConfig } = await import("../commands/cluster-config.js");
      const { options } = invocation;
      const result = await clusterConfig(
        {
          isv: invocation.isv,
          addresses: options.address,
          namespace: options.namespace,
          servicePort: options.servicePort,
        },
        ctx,
        ctx.settings,
      );
      return { command: "cluster-config", result };
    }
    const { options } = invocation;
    if (env !== undefined) {
      throw new UsageError(
        `raas ${options.remove ? "demote" : "promote"} takes --from${options.remove ? "" : " and --to"}, not --env`,
      );
    }
    const from = await open(options.from);
    if (options.remove) {
      if (options.to !== undefined) {
        throw new UsageError("--remove withdraws the tag from --from; --to means nothing with it");
      }
      const { demote } = await import("../commands/demote.js");
      const result = await demote(
        {
          isv: invocation.isv,
          reference: invocation.reference,
          plan: options.plan,
          wait: options.wait && !options.plan,
          timeoutSeconds: options.timeout,
        },
        from,
        { target: await side(from) },
      );
      return { command: "demote", result };
    }
    if (options.to === undefined) {
      throw new UsageError("raas promote needs --to <env>", {
        hint: "Or --remove, to withdraw the tag from --from.",
      });
    }
    const to = await open(options.to);
    (await import("../environments/crane.js")).refuseCraneOnSharedStore(to.settings, "promoted");
    const { promote } = await import("../commands/promote.js");
    const result = await promote(
      {
        isv: invocation.isv,
        reference: invocation.reference,
        ...(options.as === undefined ? {} : { as: options.as }),
        plan: options.plan,
        force: options.force,
        wait: options.wait && !options.plan,
        timeoutSeconds: options.timeout,
      },
      from,
      { source: await side(from), target: await side(to) },
    );
    return { command: "promote", result };
  } finally {
    for (const app of sides) await app.close();
    for (const ctx of opened) await ctx.dispose();
  }
}

/**
 * Status of one environment: which environments each of its tags passed through, from its
 * environments.json, for the tags still at the recorded digest (a later push moved the others).
 */
export async function approvalChecks(app: AppRepository, isv: string): Promise<Check[]> {
  const { APPROVALS_FILE, parseApprovals } = await import("../environments/approvals.js");
  const { metadataFileName } = await import("../image/names.js");
  const approvals = parseApprovals(await app.read(APPROVALS_FILE));
  const tagsOf = new Map<string, Record<string, string>>();
  const checks: Check[] = [];
  for (const [ref, record] of Object.entries(approvals).slice(0, 200)) {
    const colon = ref.lastIndexOf(":");
    const name = ref.slice(0, colon);
    if (!tagsOf.has(name)) {
      const text = await app.read(`data/${metadataFileName(isv, name)}`);
      let tags: Record<string, string> = {};
      try {
        const parsed = JSON.parse(text ?? "{}") as { "x-raas"?: { tags?: Record<string, string> } };
        tags = parsed["x-raas"]?.tags ?? {};
      } catch {
        // reported by the metadata checks
      }
      tagsOf.set(name, tags);
    }
    if (tagsOf.get(name)?.[ref.slice(colon + 1)] !== record.digest) continue;
    checks.push({
      name: "environments",
      status: "ok",
      detail: `${ref} (${record.digest.slice(0, 19)}…) passed ${record.environments.map((s) => s.name).join(" → ")}`,
    });
  }
  return checks;
}
