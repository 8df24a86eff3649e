import { parseMetadata } from "../crane/parse.js";
import type { CraneMetadata, CraneV4, RaasExtension } from "../crane/types.js";
import { errorMessage } from "../errors.js";
import { CheckList, type Check, type CheckReport } from "./checks.js";
import { lintMetadata } from "./status-lint.js";
import { checkApp, checkCatalog, checkServed, type HttpLog } from "./status-http.js";
import { checkRepositoryStorage, leftoverProbes, takeInventory, type Inventory } from "./status-storage.js";
import type { AppRepository } from "../app/app-repository.js";
import type { CommandContext } from "./types.js";
import type { BlobStore } from "../storage/types.js";
import { readBacklog } from "../events/deliver.js";

export interface StatusOptions {
  isv: string;
  /** Only this repository. */
  app?: string;
  /** Re-hash every blob. */
  verify: boolean;
}

export interface StatusDeps {
  store: BlobStore;
  app: AppRepository;
  appUrl: string;
  registryHost: string;
  /** Platform checks: the OpenShift project and deployment, or the local server process. */
  platformChecks?: () => Promise<Check[]>;
  /** Storage exists (the S3 bucket answers HeadBucket). */
  storageCheck?: () => Promise<Check>;
  /** Parallel storage reads (--verify) and HTTP checks. */
  concurrency?: number;
  /** Every external HTTP request, for --log debug. */
  log?: HttpLog;
  /** Names of the event endpoints (`[events.<name>]`): their backlog is checked. */
  eventEndpoints?: string[];
}

type Published = { file: string; meta: CraneV4 & { "x-raas": RaasExtension } };

/** Prove that the platform, the running registry, the metadata and storage agree. */
export async function status(
  options: StatusOptions,
  ctx: CommandContext,
  deps: StatusDeps,
): Promise<CheckReport> {
  const checks = new CheckList();
  const step = ctx.reporter.step(`Checking ${options.isv}`);
  const concurrency = deps.concurrency ?? 16;
  const log = deps.log ?? ((line: string) => ctx.reporter.debug(line));

  if (deps.platformChecks !== undefined) for (const check of await deps.platformChecks()) checks.add(check);
  if (deps.storageCheck !== undefined) checks.add(await deps.storageCheck());
  const running = await checkApp(deps.appUrl, checks, log);

  const parsed = await readMetadata(options.isv, deps.app, checks);
  const selected =
    options.app === undefined
      ? parsed.published
      : parsed.published.filter((r) => r.meta["repo-registry-id"] === options.app);
  if (options.app !== undefined && !parsed.names.includes(options.app)) {
    checks.fail(
      `repository ${options.app}`,
      `no metadata file describes ${options.app}`,
      `publish it with \`raas push ${options.isv} <image> --name ${options.app}\``,
    );
  } else if (parsed.names.length === 0 && parsed.readable) {
    checks.warn("repositories", "nothing published yet");
  }

  let inventory: Inventory | undefined;
  try {
    inventory = await takeInventory(
      deps.store,
      options.app === undefined ? undefined : selected.map((r) => r.meta.repository),
    );
    if (options.app === undefined) checkStorageList(inventory, parsed.published, checks);
    const probes = await leftoverProbes(deps.store);
    if (probes.length > 0) {
      checks.warn(
        "storage probes",
        `${probes.length} probe object(s) left by an interrupted setup (${probes[0]})`,
      );
    }
  } catch (error) {
    checks.fail(
      "storage",
      `cannot list ${deps.store.description}: ${errorMessage(error)}`,
      "check the storage credentials and endpoint; `raas setup` shows what fails",
    );
  }
  if ((deps.eventEndpoints ?? []).length > 0) {
    await checkEventBacklog(deps.store, deps.eventEndpoints ?? [], checks);
  }
  if (running && options.app === undefined && parsed.readable) {
    await checkCatalog(deps.appUrl, parsed.names, checks, log);
  }

  const pullUrls: string[] = [];
  for (const { file, meta } of selected) {
    const name = meta["repo-registry-id"];
    const ext = meta["x-raas"];
    let problems = 0;
    const fail = (detail: string, fix: string) => {
      checks.fail(name, detail, fix);
      problems++;
    };
    for (const [tag, digest] of Object.entries(ext.tags)) {
      pullUrls.push(`${deps.registryHost}/${name}:${tag}`);
      if (ext.manifests[digest] === undefined) {
        fail(`tag ${tag} points at manifest ${digest}, which ${file} does not list`, "push the image again");
      } else if ((await deps.app.read(`manifests/${meta.repository}/${digest}`)) === undefined) {
        fail(
          `tag ${tag}: its manifest ${digest} is missing from the app repository (manifests/${meta.repository}/${digest})`,
          "push the image again",
        );
      }
    }
    let counted = { blobs: 0, masked: 0 };
    if (inventory !== undefined) {
      const v1Ids = parsed.v1.get(meta.repository);
      const result = await checkRepositoryStorage(
        meta,
        inventory.get(meta.repository) ?? new Map(),
        deps.store,
        {
          verify: options.verify,
          concurrency,
          log,
          ...(v1Ids === undefined ? {} : { v1Ids }),
        },
      );
      for (const problem of result.problems) fail(problem.detail, problem.fix);
      counted = result;
    }
    if (running) problems += await checkServed(deps.appUrl, name, ext.tags, checks, concurrency, log);
    if (problems === 0) {
      const masked = counted.masked > 0 ? `, ${counted.masked} masked` : "";
      checks.ok(
        name,
        `${Object.keys(ext.tags).length} tag(s), ${counted.blobs} blob(s) in storage${masked}${options.verify ? " (re-hashed)" : ""}`,
      );
    }
  }
  const report = {
    isv: options.isv,
    ok: checks.passed,
    checks: checks.checks,
    appUrl: deps.appUrl,
    pullUrls,
  };
  const failed = checks.checks.filter((c) => c.status === "fail").length;
  if (report.ok) step.succeed(`${options.isv}: all checks passed`);
  else step.fail(`${options.isv}: ${failed} check(s) failed`);
  return report;
}

interface ParsedMetadata {
  /** Crane v4 files with raas records, which the deep checks need. */
  published: Published[];
  /** Storage prefix -> image ids of the Crane v1 files under data/v1/ (Pulp exports). */
  v1: Map<string, Set<string>>;
  /** Every repository name the valid files describe. */
  names: string[];
  /** False when the app repository itself could not be read. */
  readable: boolean;
}

async function readMetadata(isv: string, app: AppRepository, checks: CheckList): Promise<ParsedMetadata> {
  const out: ParsedMetadata = { published: [], names: [], readable: false, v1: new Map() };
  let files: string[];
  try {
    files = (await app.list("data")).filter((f) => f.endsWith(".json")).sort();
    const conf = await app.read("registry.conf");
    if (conf === undefined) {
      checks.fail(
        "app repository",
        `${app.remote} has no registry.conf`,
        `run \`raas setup ${isv}\` to repair it`,
      );
    } else {
      checks.ok("app repository", `${app.remote}: ${files.length} metadata file(s)`);
    }
    out.readable = true;
  } catch (error) {
    checks.fail(
      "app repository",
      `cannot read ${app.remote}: ${errorMessage(error)}`,
      `run \`raas setup ${isv}\``,
    );
    return out;
  }
  for (const file of files) {
    const path = `data/${file}`;
    let meta: CraneMetadata;
    try {
      meta = parseMetadata((await app.read(path)) ?? "", path);
    } catch (error) {
      checks.fail(
        `metadata ${file}`,
        `malformed metadata: ${errorMessage(error)}`,
        "fix or remove the file in the app repository, or push the image again",
      );
      continue;
    }
    const name = meta["repo-registry-id"];
    out.names.push(name);
    const problems = lintMetadata(meta, path, isv);
    for (const problem of problems) {
      checks.fail(`metadata ${file}`, problem, "push the image again to rewrite the file");
    }
    if (meta.version !== 4 || meta["x-raas"] === undefined) {
      checks.warn(
        name,
        `${path} is Crane v${meta.version} metadata without raas records; only the file was checked`,
      );
    } else if (problems.length === 0) {
      out.published.push({ file: path, meta: meta as Published["meta"] });
    }
  }
  await readV1Metadata(isv, app, checks, out);
  out.names.sort();
  return out;
}

/** The v1 files a Pulp export publishes beside its v4 file (data/v1/<isv>-<repo>.json). */
async function readV1Metadata(
  isv: string,
  app: AppRepository,
  checks: CheckList,
  out: ParsedMetadata,
): Promise<void> {
  const files = (await app.list("data/v1")).filter((f) => f.endsWith(".json")).sort();
  for (const file of files) {
    const path = `data/v1/${file}`;
    try {
      const meta = parseMetadata((await app.read(path)) ?? "", path);
      if (meta.version !== 1) {
        checks.fail(
          `metadata v1/${file}`,
          `${path} is Crane v${meta.version} metadata; data/v1/ holds version 1 files`,
          "move the file to data/",
        );
        continue;
      }
      if (!file.startsWith(`${isv}-`)) continue;
      out.v1.set(meta.repository, new Set(meta.images.map((i) => i.id)));
    } catch (error) {
      checks.fail(
        `metadata v1/${file}`,
        `malformed metadata: ${errorMessage(error)}`,
        "push the image again to rewrite the file",
      );
    }
  }
}

/** Storage prefixes no metadata describes: a push that never committed, or a deleted file. */
/** An endpoint whose oldest waiting batch is older than this is reported as down. */
const EVENTS_DOWN_MS = 5 * 60_000;

async function checkEventBacklog(store: BlobStore, endpoints: string[], checks: CheckList): Promise<void> {
  try {
    for (const e of await readBacklog(store, endpoints)) {
      const age = e.oldestPendingAt === undefined ? 0 : Date.now() - Date.parse(e.oldestPendingAt);
      if (age > EVENTS_DOWN_MS) {
        checks.warn(
          `events ${e.endpoint}`,
          `${e.backlog} batch(es) waiting since ${e.oldestPendingAt ?? "?"}${e.lastError === undefined ? "" : ` (last error: ${e.lastError})`}`,
        );
      } else checks.ok(`events ${e.endpoint}`, `backlog ${e.backlog} batch(es)`);
    }
  } catch (error) {
    checks.warn("events", `cannot read the event outbox: ${errorMessage(error)}`);
  }
}

function checkStorageList(inventory: Inventory, published: Published[], checks: CheckList): void {
  const known = new Set(published.map((p) => p.meta.repository));
  const stray = [...inventory.entries()].filter(
    // `.raas/` holds events and statistics (docs/events.md), not a repository.
    ([repository]) => repository !== "" && repository !== ".raas" && !known.has(repository),
  );
  for (const [repository, objects] of stray) {
    checks.fail(
      `storage ${repository}/`,
      `storage holds ${objects.size} object(s) under ${repository}/ but no metadata file describes that repository`,
      "an interrupted first push: push the image again; or delete the prefix if it is no longer wanted",
    );
  }
  const loose = inventory.get("");
  if (loose !== undefined) {
    checks.fail(
      "storage",
      `${loose.size} object(s) at the top of storage outside any repository (${[...loose.keys()][0] ?? ""})`,
      "raas never writes there; delete them",
    );
  }
  if (stray.length === 0 && loose === undefined) {
    checks.ok("storage list", `${known.size} repositor${known.size === 1 ? "y" : "ies"}, as in the metadata`);
  }
}
