import { Command, InvalidArgumentError, Option } from "commander";
import { parseDuration } from "../lifecycle/duration.js";
import type { LogLevel } from "../ui/reporter.js";
import { addAuthCommands, type AuthInvocation } from "./program-auth.js";
import { addEnvironmentCommands, type EnvInvocation } from "./program-envs.js";
import { timeoutSeconds } from "./arg-parsers.js";

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
  /** The lifecycle environment (docs/environments.md). */
  env?: string;
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
  | AuthInvocation
  | EnvInvocation
  | { command: "delete"; isv: string; reference: string; options: DeleteFlags }
  | { command: "gc"; isv: string; options: GcFlags }
  | { command: "sync"; isv: string; options: SyncFlags }
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
  /** docker:// sources: TLS verification, extra CAs, original names, tag renames. */
  srcTlsVerify: boolean;
  srcCa?: string;
  stripPrefix?: string;
  slash?: string;
  renameTag?: string[];
}
export interface SyncFlags {
  spec: string;
  dryRun: boolean;
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
  allTags: boolean;
}

export interface DeleteFlags {
  dryRun: boolean;
  wait: boolean;
  timeout: number;
}
export interface GcFlags {
  dryRun: boolean;
  grace?: string;
  unsafeGrace: boolean;
  /** App repositories of other environments sharing the store. */
  alsoApp: string[];
  /** Remove upload sessions of the write API idle for longer than this duration. */
  uploadAge?: string;
  /** Apply the ISV's retention rules (delete the tags they do not keep) before collecting. */
  retention: boolean;
  /** Seconds to wait for a deploy after a retention commit. */
  timeout: number;
}

const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;

/** Checked here so a bad value is a usage error before any ISV is looked at; kept as written. */
function duration(value: string): string {
  try {
    parseDuration(value, "");
  } catch {
    throw new InvalidArgumentError("must be a whole number with a unit: 90s, 30m, 24h or 7d");
  }
  return value;
}

/** A UTC day, YYYY-MM-DD, that exists on the calendar. */
function utcDay(value: string): string {
  const date = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T00:00:00Z`) : undefined;
  if (date === undefined || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value) {
    throw new InvalidArgumentError("must be a UTC day written YYYY-MM-DD");
  }
  return value;
}

function bool(value: string): boolean {
  if (value === "true") return true;
  if (value === "false") return false;
  throw new InvalidArgumentError("must be true or false");
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError("must be a port number (0-65535)");
  }
  return n;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

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
    .option("--env <name>", "the ISV's lifecycle environment to act on (docs/environments.md)")
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
  $ raas sync demo --dry-run                 mirror the upstream registries listed in ./raas-sync.yaml (docs/sync.md)
  $ raas serve demo                          run the ISV's registry in the foreground
  $ raas promote demo app:1.0 --from test --to prod   publish a tag of one environment in another (docs/environments.md)

Exit codes: 0 success, 1 failure (status: a check failed), 2 usage error,
130 interrupted by SIGINT/SIGTERM (serve: a signal is its normal end, exit 0; push: a signal after the metadata commit is too late, the push is published, exit 0).
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
      timeoutSeconds,
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
        "A bare name means ./<name>.tar. Names or tags in the input that are not valid are not published: " +
        "each is reported as a warning (and in --json), and an input left with no valid name is refused.",
    )
    .argument("<isv>", "ISV name")
    .argument("<image>", "image archive, OCI layout directory, or a bare name for ./<name>.tar")
    .option(
      "--name <repository>",
      "repository name to publish under (default: the name recorded in the archive; needed when that name is not valid)",
    )
    // No commander default: it would print "(default: [])"; the action supplies the empty list.
    .option(
      "--tag <tag>",
      "tag to publish (repeatable; default: the tags recorded in the archive, else latest)",
      collect,
    )
    .option("--no-wait", "do not wait for the registry to serve the new tags")
    .option(
      "--timeout <seconds>",
      "how long to wait for the registry to serve the new tags",
      timeoutSeconds,
      60,
    )
    .option(
      "--src-tls-verify <bool>",
      "docker:// sources: verify TLS certificates (false also allows plain HTTP)",
      bool,
      true,
    )
    .option(
      "--src-ca <file>",
      "docker:// sources: PEM bundle of certificate authorities to trust in addition to the default ones (node's bundled roots and NODE_EXTRA_CA_CERTS), so redirects to servers with ordinary certificates still work",
    )
    .option(
      "--strip-prefix <glob>",
      "original-name mode: strip the leading part of the source name matching this glob",
    )
    .option(
      "--slash <text>",
      "original-name mode: the first occurrence of this text in the stripped name stands for /",
    )
    .option(
      "--rename-tag <from=to>",
      "publish a source tag under another tag (repeatable); two source tags landing on one published tag (both renamed onto it, or one renamed onto a tag kept as it is) are refused before any upload",
      collect,
    )
    .addHelpText(
      "after",
      "\nExamples:\n  $ docker save myapp:1.0 -o myapp.tar && raas push acme myapp.tar\n" +
        "  $ raas push acme ./oci-dir --name acme/myapp --tag 1.0 --tag latest\n" +
        "  $ raas push acme docker://registry.example.com/acme/app:1.0\n" +
        "  $ raas push acme docker://quay.example.com/examplecorp-docker_io-thomasmckay_hammer:13-test \\\n" +
        "      --strip-prefix 'examplecorp-*-' --slash _ --rename-tag 13-test=latest-test",
    )
    .action(
      async (
        isv: string,
        image: string,
        flags: Omit<PushFlags, "tag"> & { tag?: string[] },
        cmd: Command,
      ) => {
        const options: PushFlags = { ...flags, tag: flags.tag ?? [] };
        await run({ command: "push", isv, image, options }, globals(cmd));
      },
    );

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
    .option("--since <date>", "only days from this UTC date on (YYYY-MM-DD)", utcDay)
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
      "Run the ISV's registry server in the foreground from its deployed app repository. Stop with " +
        "Ctrl-C or SIGTERM: requests in flight finish, then it exits 0.",
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
    .option("--verify", "also re-hash every blob in storage (and HEAD every tag)", false)
    .option(
      "--all-tags",
      "HEAD every tag at the registry (default: the repositories the registry has not loaded as in the metadata, and a sample)",
      false,
    )
    .action(async (isv: string, options: StatusFlags, cmd: Command) => {
      await run({ command: "status", isv, options }, globals(cmd));
    });

  addAuthCommands(program, run);
  addEnvironmentCommands(program, run);
  registerLifecycleCommands(program, run, globals);
  program
    .command("sync")
    .summary("mirror upstream registries under their original names, publishing only what changed")
    .description(
      "Read a sync specification (YAML, see docs/sync.md): upstream registries, repositories, name " +
        "mapping and tag rules. Lists each repository's tags, checks every candidate with one manifest " +
        "HEAD and publishes only tags whose digest differs from what the registry serves. Safe to rerun " +
        "after an interruption. Exit code 1 when any tag failed.",
    )
    .argument("<isv>", "ISV name")
    .option("--spec <file>", "the sync specification", "raas-sync.yaml")
    .option("--dry-run", "report what would be published, publish nothing", false)
    .option("--no-wait", "do not wait for the registry to serve the published tags")
    .option(
      "--timeout <seconds>",
      "how long to wait for the registry to serve the published tags",
      timeoutSeconds,
      60,
    )
    .addHelpText("after", "\nExample:\n  $ raas sync acme --spec mirror.yaml --dry-run --json")
    .action(async (isv: string, options: SyncFlags, cmd: Command) => {
      await run({ command: "sync", isv, options }, globals(cmd));
    });

  return program;
}

/** `raas delete` and `raas gc`: removing published images and collecting what nothing references. */
function registerLifecycleCommands(
  program: Command,
  run: (invocation: Invocation, globals: GlobalOptions) => Promise<void>,
  globals: (cmd: Command) => GlobalOptions,
): void {
  program
    .command("delete")
    .summary("delete a tag, or a manifest and its tags, as a commit to the app repository")
    .description(
      "Delete a tag (<name>:<tag>), or a manifest with every tag pointing at it (<name>@<digest>), " +
        "as one commit to the ISV's app repository; the registry stops serving it once it picks the " +
        "commit up. Deleting the last tag removes the repository from the catalog and search. Storage " +
        "is not touched: `raas gc` frees what nothing references any more.",
    )
    .argument("<isv>", "ISV name")
    .argument("<reference>", "<name>:<tag> or <name>@sha256:<digest>")
    .option("--dry-run", "show what would be deleted; commit nothing", false)
    .option("--no-wait", "do not wait for the registry to stop serving it")
    .option("--timeout <seconds>", "how long to wait for the registry", timeoutSeconds, 60)
    .addHelpText(
      "after",
      "\nExamples:\n  $ raas delete acme acme/app:1.0 --dry-run\n  $ raas delete acme acme/app@sha256:4f5e…",
    )
    .action(async (isv: string, reference: string, options: DeleteFlags, cmd: Command) => {
      await run({ command: "delete", isv, reference, options }, globals(cmd));
    });

  program
    .command("gc")
    .summary("delete stored objects no metadata references (safe while others publish)")
    .description(
      "Garbage-collect the ISV's storage: mark every blob, manifest and v1 file the metadata references " +
        "(now, and in every commit within the grace period), then delete unreferenced objects older than " +
        "the grace period. Objects a push uploaded but has not committed yet are younger than the grace " +
        "period, so they are kept. Reports what it freed and what the grace period kept.",
    )
    .argument("<isv>", "ISV name")
    .option("--dry-run", "report what would be freed; delete nothing", false)
    .option(
      "--grace <duration>",
      "keep unreferenced objects younger than this, as a push may not have committed them yet (90s, 30m, 24h, 7d; default 24h)",
      duration,
    )
    .option(
      "--unsafe-grace",
      "allow a grace period or upload age below 1h (only when nobody publishes to this store meanwhile)",
      false,
    )
    .option(
      "--also-app <git-url>",
      "also mark from this app repository (another environment sharing the store; repeatable)",
      collect,
      [],
    )
    .option(
      "--upload-age <duration>",
      "also remove abandoned upload sessions: blob uploads a client began through the registry's push " +
        "API (stored under .raas-uploads/) and has not written to for longer than this (90s, 30m, 24h, 7d; " +
        "at least 1h unless --unsafe-grace; default: upload sessions are never removed)",
      duration,
    )
    .option(
      "--retention",
      "first delete the tags the ISV's retention rules do not keep (one commit; [retention.<isv>.<rule>] in raas.cfg)",
      false,
    )
    .option(
      "--timeout <seconds>",
      "wait at most this long for a deploy after a retention commit",
      timeoutSeconds,
      300,
    )
    .addHelpText(
      "after",
      "\nExamples:\n  $ raas gc acme --dry-run\n  $ raas gc acme --grace 7d --json\n  $ raas gc acme --retention --dry-run",
    )
    .action(async (isv: string, options: GcFlags, cmd: Command) => {
      await run({ command: "gc", isv, options }, globals(cmd));
    });
}
