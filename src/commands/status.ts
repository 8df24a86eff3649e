import { parseMetadata } from "../crane/parse.js";
import type { CraneMetadata, CraneV4, RaasExtension } from "../crane/types.js";
import { errorMessage } from "../errors.js";
import { CheckList, requireSetUp, type CheckReport } from "./checks.js";
import { lintMetadata } from "./status-lint.js";
import { checkApp, checkCatalog, checkServed, type HttpLog } from "./status-http.js";
import { checkRepositoryStorage, takeInventory, type Inventory } from "./status-storage.js";
import { v1LayerDigests, verifyV1Layers } from "./status-v1.js";
import { checkAnonymousReads } from "./status-public.js";
import type { AppRepository } from "../app/app-repository.js";
import type { CommandContext } from "./types.js";
import type { Platform } from "../app/platform.js";
import { PARTIAL_WRITE_GRACE_MS, type BlobStore } from "../storage/types.js";

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
  /** The OpenShift project and deployment, or the local server process. */
  platform: Platform;
  registryHost: string;
  /** Public redirect mode: clients fetch blobs from storage anonymously, so status checks they can. */
  publicRedirects?: boolean;
  /** Parallel storage reads (--verify) and HTTP checks. */
  concurrency?: number;
  /** Every external HTTP request, for --log debug. */
  log?: HttpLog;
}

type Published = { file: string; meta: CraneV4 & { "x-raas": RaasExtension } };

/** Prove that the platform, the running registry, the metadata and storage agree. */
export async function status(
  options: StatusOptions,
  ctx: CommandContext,
  deps: StatusDeps,
): Promise<CheckReport> {
  await requireSetUp(options.isv, deps.platform);
  const checks = new CheckList();
  const step = ctx.reporter.step(`Checking ${options.isv}`);
  const concurrency = deps.concurrency ?? 16;
  const log = deps.log ?? ((line: string) => ctx.reporter.debug(line));
  const appUrl = deps.platform.appUrl;

  for (const check of await deps.platform.statusChecks()) checks.add(check);
  const storageExists = await checkStorageExists(options.isv, deps.store, checks);
  const running = await checkApp(options.isv, appUrl, checks, log);

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
    if (storageExists) {
      inventory = await takeInventory(
        deps.store,
        options.app === undefined ? undefined : selected.map((r) => r.meta.repository),
      );
      if (options.app === undefined) checkStorageList(inventory, parsed.published, checks);
      const probes = await deps.store.leftoverProbes();
      if (probes.length > 0) {
        checks.warn(
          "storage probes",
          `${probes.length} probe object(s) left by an interrupted setup (${probes[0]})`,
        );
      }
      await checkPartialWrites(options.isv, deps.store, checks);
    }
  } catch (error) {
    checks.fail(
      "storage",
      `cannot list ${deps.store.description}: ${errorMessage(error)}`,
      `check the storage credentials and endpoint; \`raas setup ${options.isv}\` shows what fails`,
    );
  }
  if (running && options.app === undefined && parsed.readable) {
    await checkCatalog(options.isv, appUrl, parsed.names, checks, log);
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
      const v1 = parsed.v1.get(meta.repository);
      const objects = inventory.get(meta.repository) ?? new Map<string, number>();
      const result = await checkRepositoryStorage(meta, objects, deps.store, {
        verify: options.verify,
        concurrency,
        log,
        ...(v1 === undefined ? {} : { v1Ids: v1.ids }),
      });
      for (const problem of result.problems) fail(problem.detail, problem.fix);
      counted = result;
      if (v1 !== undefined && options.verify) {
        const layers = await v1LayerDigests(meta, v1.tags, objects, deps.app, deps.store);
        for (const problem of await verifyV1Layers(layers, deps.store, concurrency)) {
          fail(problem.detail, problem.fix);
        }
      }
      if (deps.publicRedirects === true) {
        const denied = await checkAnonymousReads(meta, objects, {
          all: options.verify,
          isv: options.isv,
          concurrency,
          log,
        });
        for (const problem of denied) fail(problem.detail, problem.fix);
      }
    }
    if (running) problems += await checkServed(options.isv, appUrl, name, ext.tags, checks, concurrency, log);
    if (problems === 0 && inventory === undefined) {
      // Storage was not looked at (listing failed, or it does not exist): nothing to tick.
      checks.warn(name, `${Object.keys(ext.tags).length} tag(s); storage not checked (see the storage line)`);
    } else if (problems === 0) {
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
    appUrl: appUrl,
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
  v1: Map<string, { ids: Set<string>; tags: Record<string, string> }>;
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
      out.v1.set(meta.repository, { ids: new Set(meta.images.map((i) => i.id)), tags: meta.tags });
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
function checkStorageList(inventory: Inventory, published: Published[], checks: CheckList): void {
  const known = new Set(published.map((p) => p.meta.repository));
  const stray = [...inventory.entries()].filter(
    ([repository]) => repository !== "" && !known.has(repository),
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

/** The container (bucket, directory) must exist: a missing one is the first thing to fix. */
async function checkStorageExists(isv: string, store: BlobStore, checks: CheckList): Promise<boolean> {
  try {
    if (await store.exists()) {
      checks.ok(
        "storage",
        store.createNeedsConsent ? `${store.description}: bucket exists` : store.description,
      );
      return true;
    }
    checks.fail(
      "storage",
      `${store.container} does not exist (${store.description})`,
      `run \`raas setup ${isv}${store.createNeedsConsent ? " --create" : ""}\``,
    );
  } catch (error) {
    checks.fail("storage", errorMessage(error), "check the storage credentials and endpoint");
  }
  return false;
}

/** Writes a killed push left: past the grace period they are litter the next push or setup removes. */
async function checkPartialWrites(isv: string, store: BlobStore, checks: CheckList): Promise<void> {
  const partial = await store.partialWrites();
  if (partial.length === 0) return;
  const stale = partial.filter((p) => p.ageMs >= PARTIAL_WRITE_GRACE_MS);
  const bytes = stale.reduce((sum, p) => sum + p.size, 0);
  const hours = PARTIAL_WRITE_GRACE_MS / 3_600_000;
  if (stale.length > 0) {
    checks.fail(
      "partial writes",
      `${stale.length} partial write(s) (${bytes} bytes) left by an interrupted push, e.g. ${stale[0]?.name ?? ""}`,
      `\`raas setup ${isv}\` or the next push removes those older than ${hours} hour(s)`,
    );
  }
  const fresh = partial.length - stale.length;
  if (fresh > 0) {
    checks.warn(
      "partial writes",
      `${fresh} write(s) in progress or left by a push stopped in the last ${hours} hour(s)`,
    );
  }
}
