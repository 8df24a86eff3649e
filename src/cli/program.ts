import { Command, InvalidArgumentError, Option } from "commander";
import type { LogLevel } from "../ui/reporter.js";

export interface GlobalOptions {
  config?: string;
  configenv?: string;
  /** Configuration overrides, highest precedence (validated with the configuration). */
  stateDir?: string;
  storage?: string;
  platform?: string;
  s3Endpoint?: string;
  s3Region?: string;
  redirect?: string;
  nocommit: boolean;
  log: LogLevel;
  terse: boolean;
  json: boolean;
}

export type Invocation =
  | { command: "setup"; isv: string; options: SetupFlags }
  | { command: "push"; isv: string; image: string; options: PushFlags }
  | { command: "serve"; isv: string; options: ServeFlags }
  | { command: "status"; isv: string; options: StatusFlags }
  | { command: "stats"; isv: string; name?: string; options: StatsFlags };

export interface SetupFlags {
  create: boolean;
  s3bucket?: string;
  oodomain?: string;
  ooapp?: string;
  start: boolean;
  timeout: number;
}
export interface PushFlags {
  name?: string;
  tag: string[];
  wait: boolean;
  timeout: number;
}
export interface ServeFlags {
  port?: number;
  host?: string;
}
export interface StatsFlags {
  since?: string;
}
export interface StatusFlags {
  app?: string;
  verify: boolean;
}

const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("must be a positive whole number");
  return n;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError("must be a port number (0-65535)");
  }
  return n;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * Commander definitions only: flags, help and examples. Each action hands a typed
 * Invocation to `run`; nothing here reads config, touches files or prints results.
 */
export function buildProgram(
  run: (invocation: Invocation, globals: GlobalOptions) => Promise<void>,
  output?: { writeOut(text: string): void; writeErr(text: string): void },
): Command {
  // Set before any subcommand exists: commander copies these settings into subcommands at creation.
  const program = new Command("raas").exitOverride();
  if (output !== undefined) program.configureOutput(output);
  program
    .description(
      "Registry as a service: publish container images to object storage and serve them from a " +
        "tiny, stateless registry app deployed from git.",
    )
    .version(process.env.npm_package_version ?? "0.1.0", "-V, --version")
    .option(
      "-C, --config <file>",
      "use this raas.cfg (default: ./raas.cfg, then $RAAS_CONF_REPO, then built-in defaults)",
    )
    .option(
      "-c, --configenv <branch>",
      "branch of the configuration repository ($RAAS_CONF_REPO) to use (default: stage)",
    )
    .option("--state-dir <dir>", "where the embedded default keeps everything (overrides RAAS_HOME)")
    .option("--storage <kind>", "local or s3 (overrides [raas] storage)")
    .option("--platform <kind>", "local or openshift (overrides [raas] platform)")
    .option("--s3-endpoint <url>", "S3 endpoint (overrides [s3] endpoint)")
    .option("--s3-region <region>", "S3 region (overrides [s3] region)")
    .option("--redirect <mode>", "public or presigned blob redirects (overrides [s3] redirect)")
    .option(
      "-n, --nocommit",
      "do not commit logs and metadata backups to the configuration repository",
      false,
    )
    .addOption(new Option("-l, --log <level>", "how much to print").choices(LOG_LEVELS).default("info"))
    .option("-t, --terse", "print only the pull URLs", false)
    .option("--json", "print one JSON document with the result (stable shape; for CI)", false)
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText(
      "after",
      `
Examples:
  $ raas setup demo                          create a registry for ISV "demo" (local storage, local git, local server)
  $ raas push demo ./app.tar --tag 1.0       publish a docker-save or OCI archive
  $ raas push demo bigdata-app               publish ./bigdata-app.tar under the name the archive records
  $ raas status demo                         check storage, metadata and the running registry agree
  $ raas serve demo                          run the ISV's registry in the foreground

Exit codes: 0 success, 1 failure (status: a check failed), 2 usage error, 130 interrupted.
Configuration: see raas.cfg.template; with no raas.cfg, everything lives under $RAAS_HOME.`,
    );

  const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals<GlobalOptions>();

  program
    .command("setup")
    .summary("create or repair everything an ISV's registry needs")
    .description(
      "Create or repair an ISV's registry: storage (bucket or directory, with a write/read/delete probe), " +
        "the app git repository (registry server, config, Containerfile, platform manifests), its " +
        "deployment, and finally check that /v1/_ping and /v2/ answer. Safe to run again: it repairs, " +
        "never duplicates.",
    )
    .argument("<isv>", "ISV name: lower-case letters and digits, at most 16")
    .option("--create", "create the S3 bucket if it does not exist", false)
    .option("--s3bucket <name>", "S3 bucket for this ISV (recorded in raas.cfg on first use)")
    .option("--oodomain <project>", "OpenShift project (namespace) for this ISV")
    .option("--ooapp <name>", "OpenShift application name", undefined)
    .option("--no-start", "local platform: do not start the registry server in the background")
    .option(
      "--timeout <seconds>",
      "how long to wait for the registry to answer (on OpenShift: also for the build, then the rollout)",
      positiveInt,
      60,
    )
    .addHelpText("after", "\nExample:\n  $ raas setup acme --s3bucket acme-images --create")
    .action(async (isv: string, options: SetupFlags, cmd: Command) => {
      await run({ command: "setup", isv, options }, globals(cmd));
    });

  program
    .command("push")
    .summary("publish an image: upload what is missing, commit metadata, deploy")
    .description(
      "Publish an image. Reads a `docker save` archive (any Docker version), an OCI layout " +
        "(directory or tar) or a Pulp 2 export tarball; skips masked vendor layers ([redhat] " +
        "mask_layers and the vendor metadata); uploads only the blobs storage does not have yet " +
        "(each verified against its digest); writes the manifests; then commits Crane metadata to " +
        "the ISV's app repository and pushes it, which deploys the registry. " +
        "A bare name means ./<name>.tar.",
    )
    .argument("<isv>", "ISV name")
    .argument("<image>", "image archive, OCI layout directory, or a bare name for ./<name>.tar")
    .option(
      "--name <repository>",
      "repository name to publish under (default: the name recorded in the archive)",
    )
    .option(
      "--tag <tag>",
      "tag to publish (repeatable; default: the tags recorded in the archive, else latest)",
      collect,
      [],
    )
    .option("--no-wait", "do not wait for the registry to serve the new tags")
    .option("--timeout <seconds>", "how long to wait for the registry to serve the new tags", positiveInt, 60)
    .addHelpText(
      "after",
      "\nExamples:\n  $ docker save myapp:1.0 -o myapp.tar && raas push acme myapp.tar " +
        "  $ raas push acme ./oci-dir --name acme/myapp --tag 1.0 --tag latest",
    )
    .action(async (isv: string, image: string, options: PushFlags, cmd: Command) => {
      await run({ command: "push", isv, image, options }, globals(cmd));
    });

  program
    .command("stats")
    .summary("pull statistics per repository, tag and day")
    .description(
      "Show how often each tag was pulled (manifest GETs answered by the registry; HEAD requests, " +
        "blob downloads and signature artifacts do not count), per UTC day, from the counters every " +
        "registry worker writes to storage about every 10 seconds.",
    )
    .argument("<isv>", "ISV name")
    .argument("[name]", "repository name (default: every repository)")
    .option("--since <date>", "only days from this UTC date on (YYYY-MM-DD)")
    .addHelpText(
      "after",
      "\nExamples:\n  $ raas stats acme\n  $ raas stats acme acme/app --since 2026-11-01 --json",
    )
    .action(async (isv: string, name: string | undefined, options: StatsFlags, cmd: Command) => {
      await run({ command: "stats", isv, ...(name === undefined ? {} : { name }), options }, globals(cmd));
    });

  program
    .command("serve")
    .summary("run an ISV's registry app in the foreground (local platform)")
    .description(
      "Run the ISV's registry server in the foreground from its deployed app repository. Stop with Ctrl-C.",
    )
    .argument("<isv>", "ISV name")
    .option("--port <port>", "port to listen on (default: the ISV's configured port)", port)
    .option("--host <address>", "address to listen on (default: 127.0.0.1)")
    .action(async (isv: string, options: ServeFlags, cmd: Command) => {
      await run({ command: "serve", isv, options }, globals(cmd));
    });

  program
    .command("status")
    .summary("check that storage, metadata and the running registry agree")
    .description(
      "Check an ISV's registry: the app answers /v1/_ping and /v2/, metadata files are valid, every " +
        "tag resolves, and every blob they reference is in storage. Exit code 1 when anything is wrong.",
    )
    .argument("<isv>", "ISV name")
    .option("-a, --app <image>", "check only this repository")
    .option("--verify", "also re-hash every blob in storage", false)
    .action(async (isv: string, options: StatusFlags, cmd: Command) => {
      await run({ command: "status", isv, options }, globals(cmd));
    });

  return program;
}
