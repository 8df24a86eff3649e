/**
 * Commander definitions for lifecycle environments (docs/environments.md): `raas promote`,
 * `raas demote` and `raas cluster-config`. Flags, help and examples only.
 */
import { InvalidArgumentError, type Command } from "commander";
import type { GlobalOptions } from "./program.js";
import { timeoutSeconds } from "./arg-parsers.js";

export interface PromoteFlags {
  from: string;
  to?: string;
  as?: string;
  plan: boolean;
  force: boolean;
  remove: boolean;
  wait: boolean;
  timeout: number;
}

export interface ClusterConfigFlags {
  address: string[];
  namespace: string;
  servicePort: number;
}

export type EnvInvocation =
  | { command: "promote"; isv: string; reference: string; options: PromoteFlags }
  | { command: "cluster-config"; isv: string; options: ClusterConfigFlags };

type Run = (invocation: EnvInvocation, globals: GlobalOptions) => Promise<void>;

function servicePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError("must be a port (1-65535)");
  return n;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function addEnvironmentCommands(program: Command, run: Run): void {
  const globals = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>();
  program
    .command("promote")
    .summary("publish a tag of one environment in another, with the same digest")
    .description(
      "Publish <name>:<tag> of the --from environment in the --to environment: the same manifest bytes " +
        "(same digest), after checking the source serves it and stores every blob it needs. On a shared " +
        "store no bytes move; between buckets of their own, blobs are copied server-side. One commit in " +
        "the target's app repository, authored by you, records it. Refuses to move a tag the target has " +
        "at another digest unless --force. --remove withdraws the tag from --from instead (raas demote).",
    )
    .argument("<isv>", "ISV name")
    .argument("<reference>", "<name>:<tag> in the source environment")
    .requiredOption("--from <env>", "the environment the tag is in")
    .option("--to <env>", "the environment to publish it in")
    .option("--as <tag>", "the tag in the target environment (default: the same tag)")
    .option("--plan", "show what would change; change nothing", false)
    .option("--force", "move a tag the target has at another digest", false)
    .option("--remove", "withdraw the tag from the --from environment (as raas demote)", false)
    .option("--no-wait", "do not wait for the target registry to serve the tag")
    .option("--timeout <seconds>", "how long to wait for the target registry", timeoutSeconds, 60)
    .addHelpText(
      "after",
      "\nExamples:\n  $ raas promote acme acme/app:1.2 --from test --to prod --plan\n" +
        "  $ raas promote acme acme/app:1.2 --from test --to prod\n" +
        "  $ raas promote acme acme/app:1.2-rc3 --from uat --to prod --as 1.2",
    )
    .action(async (isv: string, reference: string, options: PromoteFlags, cmd: Command) => {
      await run({ command: "promote", isv, reference, options }, globals(cmd));
    });

  program
    .command("demote")
    .summary("withdraw a tag from an environment")
    .description(
      "Remove <name>:<tag> from the --from environment, as one commit to its app repository (the " +
        "environments record loses it too). Storage is left to `raas gc`.",
    )
    .argument("<isv>", "ISV name")
    .argument("<reference>", "<name>:<tag>")
    .requiredOption("--from <env>", "the environment to withdraw it from")
    .option("--plan", "show what would change; change nothing", false)
    .option("--no-wait", "do not wait for the registry to stop serving the tag")
    .option("--timeout <seconds>", "how long to wait for the registry", timeoutSeconds, 60)
    .addHelpText("after", "\nExample:\n  $ raas demote acme acme/app:1.2 --from prod")
    .action(
      async (isv: string, reference: string, flags: Omit<PromoteFlags, "force" | "remove">, cmd: Command) => {
        const options: PromoteFlags = { ...flags, force: false, remove: true };
        await run({ command: "promote", isv, reference, options }, globals(cmd));
      },
    );

  program
    .command("cluster-config")
    .summary("print the objects a consuming cluster applies to use an environment's registry")
    .description(
      "Print the Service, Endpoints and Route (YAML, for `oc apply -f -`) that make a consuming " +
        "OpenShift cluster's `docker-registry` service the central registry of the --env environment.",
    )
    .argument("<isv>", "ISV name")
    .option(
      "--address <ip>",
      "an IP address of the registry (repeatable; default: resolve its host)",
      collect,
      [],
    )
    .option("--namespace <name>", "namespace of the docker-registry service", "default")
    .option("--service-port <port>", "port of the docker-registry service in the cluster", servicePort, 5000)
    .addHelpText("after", "\nExample:\n  $ raas cluster-config acme --env prod | oc apply -f -")
    .action(async (isv: string, options: ClusterConfigFlags, cmd: Command) => {
      await run({ command: "cluster-config", isv, options }, globals(cmd));
    });
}
