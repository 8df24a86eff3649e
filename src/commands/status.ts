import { parseMetadata } from "../crane/parse.js";
import type { CraneMetadata, CraneV4, RaasExtension } from "../crane/types.js";
import { errorMessage } from "../errors.js";
import { CheckList, requireSetUp, verdict, type Check, type CheckReport } from "./checks.js";
import { lintMetadata } from "./status-lint.js";
import {
  checkApp,
  checkServedCommit,
  checkCatalog,
  checkServed,
  fetchLoaded,
  HeadClient,
  NO_LOGIN_HINT,
  type HttpLog,
  type StatusHttp,
} from "./status-http.js";
import type { RegistryClient } from "../app/registry-http.js";
import { servedTagsDigest } from "../crane/served-digest.js";
import { checkRepositoryStorage, ListedObjects, takeInventory, type Inventory } from "./status-storage.js";
import { v1LayerDigests, verifyV1Layers } from "./status-v1.js";
import { checkAnonymousReads } from "./status-public.js";
import type { AppRepository } from "../app/app-repository.js";
import type { CommandContext } from "./types.js";
import type { Platform } from "../app/platform.js";
import { PARTIAL_WRITE_GRACE_MS, type BlobStore } from "../storage/types.js";
import { dashed, isRepositoryName } from "../image/names.js";
import { mapLimit } from "../publish/pool.js";
import { readBacklog } from "../events/deliver.js";
import { emptyReachable, markMetadata } from "../lifecycle/reachable.js";
import type { GcDeps } from "./gc.js";

/** What status has already marked and listed, so the garbage line needs no second pass. */
export type GcPrepared = NonNullable<GcDeps["prepared"]>;

export interface StatusOptions {
  isv: string;
  /** Only this repository. */
  app?: string;
  /** Re-hash every blob (and HEAD every tag). */
  verify: boolean;
  /**
   * HEAD every tag at the registry. Without it, when the registry reports what it has loaded
   * (`GET /raas/loaded`), only the repositories whose loaded tags differ from the metadata are
   * HEADed in full, plus a random sample of SERVED_SAMPLE tags.
   */
  allTags?: boolean;
}

/** Tags HEADed, at most, in the repositories the registry reports as loaded like the metadata. */
export const SERVED_SAMPLE = 100;

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
  /** How to reach the registry: its CA (HTTPS) and raas's login (registryClientFor). */
  registry: RegistryClient;
  /** Reclaimable bytes (what `raas gc --dry-run` would free) and the last GC run. */
  gcCheck?: (prepared?: GcPrepared) => Promise<Check>;
  /** Names of the event endpoints (`[events.<name>]`): their backlog is checked. */
  eventEndpoints?: string[];
  /** Checks made elsewhere (lifecycle records, environments), reported last and in the verdict. */
  moreChecks?: () => Promise<Check[]>;
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
  const registry = deps.registry;
  const http: StatusHttp = { client: registry, log };
  // Why private tags go unchecked, and what checks them: said alike per repository and in total.
  const notChecked =
    registry.login === undefined
      ? `no registry login (${NO_LOGIN_HINT})`
      : `${registry.login.name} may not pull them`;

  // The app repository is cloned while the platform, the app and storage are checked.
  deps.app.warm?.();
  for (const check of await deps.platform.statusChecks()) checks.add(check);
  const storageExists = await checkStorageExists(options.isv, deps.store, checks);
  const running = await checkApp(options.isv, appUrl, checks, http);
  // What the registry has loaded: compared with the metadata, it spares a HEAD per tag.
  const everyTag = options.allTags === true || options.verify;
  let state = running ? await fetchLoaded(appUrl, http) : undefined;
  if (state?.commit !== undefined && deps.app.head !== undefined) {
    state = await checkServedCommit(options.isv, appUrl, await deps.app.head?.(), state, checks, http);
  }
  const loaded = everyTag ? undefined : state;
  // `unchecked`: HEADed tags the registry answered with a login challenge raas could not meet
  // (no login, or one that may not pull them): neither served nor failed, and never counted as served.
  const served = { repositories: 0, tags: 0, matched: 0, headed: 0, headedFailed: 0, unchecked: 0 };

  // Storage is listed once, before the metadata is read, so that each metadata file can be
  // parsed, checked against it and dropped in one pass: memory holds the listing and a few
  // files, not every parsed file at once. The checks are still reported in their usual order.
  const listing = storageExists
    ? await listStorage(
        deps.store,
        options.app === undefined ? undefined : isRepositoryName(options.app) ? [dashed(options.app)] : [],
      )
    : { probes: [] };
  const inventory = listing.inventory;
  const perRepository = async (published: Published, position: SamplePosition): Promise<RepositoryChecks> => {
    const { file, meta } = published;
    const out = new CheckList();
    const pullUrls: string[] = [];
    const name = meta["repo-registry-id"];
    const ext = meta["x-raas"];
    let problems = 0;
    const fail = (detail: string, fix: string) => {
      out.fail(name, detail, fix);
      problems++;
    };
    // One directory listing for the repository's manifests, not one file read per tag.
    const manifestFiles = new Set(await deps.app.list(`manifests/${meta.repository}`));
    // One prefix string shared by the repository's pull URLs: each URL is then one small
    // concatenation, not a chain of them (100,000 URLs at 10,000 x 10).
    const pullPrefix = `${deps.registryHost}/${name}:`;
    for (const [tag, digest] of Object.entries(ext.tags)) {
      pullUrls.push(pullPrefix + tag);
      if (ext.manifests[digest] === undefined) {
        fail(`tag ${tag} points at manifest ${digest}, which ${file} does not list`, "push the image again");
      } else if (!manifestFiles.has(digest)) {
        fail(
          `tag ${tag}: its manifest ${digest} is missing from the app repository (manifests/${meta.repository}/${digest})`,
          "push the image again",
        );
      }
    }
    let counted = { blobs: 0, masked: 0 };
    if (inventory !== undefined) {
      const v1Files = v1.get(meta.repository);
      const objects = inventory.get(meta.repository) ?? new ListedObjects();
      const result = await checkRepositoryStorage(meta, objects, deps.store, {
        verify: options.verify,
        concurrency,
        log,
        ...(v1Files === undefined ? {} : { v1Ids: v1Files.ids }),
      });
      for (const problem of result.problems) fail(problem.detail, problem.fix);
      for (const orphan of result.garbage) out.warn(name, `${orphan.detail} (${orphan.fix})`);
      counted = result;
      if (v1Files !== undefined && options.verify) {
        const layers = await v1LayerDigests(meta, v1Files.tags, objects, deps.app, deps.store);
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
    let unchecked = 0;
    let servedNote = "";
    if (running) {
      const tagCount = Object.keys(ext.tags).length;
      // The registry loaded exactly these tags (and their manifests): a sample is HEADed to prove
      // the path works; a repository that differs, or is not reported, is HEADed in full.
      const matched =
        loaded !== undefined && loaded.repositories.get(name) === servedTagsDigest(ext.tags, () => true);
      const heading = matched ? sampleTags(ext.tags, quotaOf(position)) : ext.tags;
      const headed = Object.keys(heading).length;
      const result = await checkServed(
        options.isv,
        appUrl,
        name,
        heading,
        out,
        concurrency,
        heads,
        registry.login,
      );
      problems += result.problems;
      unchecked = result.unchecked;
      served.repositories++;
      served.tags += tagCount;
      served.headed += headed;
      served.headedFailed += result.problems;
      served.unchecked += result.unchecked;
      if (matched) served.matched++;
      if (matched && headed < tagCount) {
        servedNote =
          headed === 0
            ? `; the registry has loaded its ${tagCount} tag(s) as in the metadata (none HEADed: not in the sample)`
            : `; the registry has loaded its ${tagCount} tag(s) as in the metadata, ${headed} HEADed (sample)`;
      }
    }
    if (problems === 0 && unchecked > 0) {
      // Never a tick for what was not looked at.
      out.warn(
        name,
        `${unchecked} of ${Object.keys(ext.tags).length} tag(s) private ([auth]) and NOT checked against the registry: ${notChecked}`,
      );
    } else if (problems === 0 && inventory === undefined) {
      // Storage was not looked at (listing failed, or it does not exist): nothing to tick.
      out.warn(name, `${Object.keys(ext.tags).length} tag(s); storage not checked (see the storage line)`);
    } else if (problems === 0) {
      const masked = counted.masked > 0 ? `, ${counted.masked} masked` : "";
      out.ok(
        name,
        `${Object.keys(ext.tags).length} tag(s), ${counted.blobs} blob(s) in storage${masked}${options.verify ? " (re-hashed)" : ""}${servedNote}`,
      );
    }
    return { checks: out.checks, pullUrls };
  };

  const v1Checks = new CheckList();
  // Every parsed metadata file is marked as garbage collection marks it, for the garbage line.
  // Only listed keys matter to the sweep plan: a marked key is a flag on its listed object, not
  // an entry of a set of 100,000s of keys.
  const listedAt = (key: string) => inventory?.get(key.slice(0, Math.max(0, key.indexOf("/"))));
  const marking = {
    reachable: {
      keys: { has: (key: string) => listedAt(key)?.isMarked(key) === true },
      wholeRepositories: new Set<string>(),
    },
    files: 0,
    unreadable: false,
  };
  const mark = (meta: CraneMetadata | undefined) => {
    if (meta === undefined || inventory === undefined) {
      marking.unreadable = true;
      return;
    }
    const marked = emptyReachable();
    markMetadata(marked, meta);
    for (const repository of marked.wholeRepositories) marking.reachable.wholeRepositories.add(repository);
    for (const key of marked.keys) listedAt(key)?.mark(key);
    marking.files++;
  };
  const v1 = await readV1Metadata(options.isv, deps.app, v1Checks, mark);
  const heads = new HeadClient(log, registry.ca);
  let quotaOf: (position: SamplePosition) => number = () => 0;
  const parsed = await readMetadata(
    options.isv,
    deps.app,
    checks,
    (total) => (quotaOf = sampleQuota(options.app === undefined ? total : 1, SERVED_SAMPLE)),
    mark,
    (published, position) =>
      options.app === undefined || published.meta["repo-registry-id"] === options.app
        ? perRepository(published, position)
        : undefined,
  ).finally(() => heads.close());
  if (loaded !== undefined && served.repositories > 0) {
    const differ = served.repositories - served.matched;
    const summary =
      `the registry (loaded ${loaded.loadedAt}) has ${served.matched} of ${served.repositories} repositor${served.repositories === 1 ? "y" : "ies"} loaded as in the metadata` +
      (differ > 0 ? `; the other ${differ} were HEADed tag by tag` : "") +
      `; ${served.headed} of ${served.tags} tag(s) HEADed, ${served.headed - served.headedFailed - served.unchecked} served with their digest` +
      (served.headed < served.tags ? " (`--all-tags` HEADs every tag)" : "") +
      (served.unchecked > 0
        ? `; ${served.unchecked} HEADed tag(s) private ([auth]) and NOT checked: ${notChecked}`
        : "");
    if (served.headedFailed > 0) {
      checks.fail(
        "served tags",
        summary,
        `\`raas status ${options.isv} --all-tags\` lists every tag that is not served`,
      );
    } else if (served.unchecked > 0) {
      // A tag the registry would not show raas is not proven served: never a tick for it.
      checks.warn("served tags", summary);
    } else checks.ok("served tags", summary);
  }
  for (const check of v1Checks.checks) checks.add(check);
  if (options.app !== undefined && !parsed.names.includes(options.app)) {
    checks.fail(
      `repository ${options.app}`,
      `no metadata file describes ${options.app}`,
      `publish it with \`raas push ${options.isv} <image> --name ${options.app}\``,
    );
  } else if (parsed.names.length === 0 && parsed.readable) {
    checks.warn("repositories", "nothing published yet");
  }

  if (inventory !== undefined && options.app === undefined) {
    checkStorageList(inventory, parsed.repositories, checks);
  }
  if (listing.probes.length > 0) {
    checks.warn(
      "storage probes",
      `${listing.probes.length} probe object(s) left by an interrupted setup (${listing.probes[0]})`,
    );
  }
  if (listing.partial !== undefined) checkPartialWrites(options.isv, listing.partial, checks);
  if (listing.error !== undefined) {
    checks.fail(
      "storage",
      `cannot list ${deps.store.description}: ${errorMessage(listing.error.cause)}`,
      `check the storage credentials and endpoint; \`raas setup ${options.isv}\` shows what fails`,
    );
  }
  if (storageExists && (deps.eventEndpoints ?? []).length > 0) {
    await checkEventBacklog(deps.store, deps.eventEndpoints ?? [], checks);
  }
  if (running && options.app === undefined && parsed.readable) {
    await checkCatalog(options.isv, appUrl, parsed.names, checks, http);
  }
  if (deps.gcCheck !== undefined && options.app === undefined) {
    // The listing and the marks of this run, when complete: otherwise gc reads everything itself.
    const complete = inventory !== undefined && listing.error === undefined && !marking.unreadable;
    checks.add(
      await deps.gcCheck(
        complete
          ? {
              reachable: marking.reachable,
              files: marking.files,
              objects: function* () {
                for (const objects of inventory.values()) yield* objects;
              },
            }
          : undefined,
      ),
    );
  }

  const pullUrls: string[] = [];
  for (const result of parsed.checked) {
    for (const check of result.checks) checks.add(check);
    pullUrls.push(...result.pullUrls);
  }
  for (const check of (await deps.moreChecks?.()) ?? []) checks.add(check);
  const report = {
    isv: options.isv,
    ok: checks.passed,
    checks: checks.checks,
    appUrl,
    pullUrls,
  };
  // "all checks passed" only when every check is ✔; warnings are counted, never passed over.
  const said = verdict(checks.checks);
  if (report.ok) step.succeed(`${options.isv}: ${said.charAt(0).toLowerCase()}${said.slice(1)}`);
  else step.fail(`${options.isv}: ${said}`);
  return report;
}

/** Where a metadata file is in the sorted list: it decides whether it is in the HEAD sample. */
interface SamplePosition {
  index: number;
}

/**
 * How many tags each repository HEADs when the registry has loaded it as in the metadata, for a
 * budget of `budget` HEADs over `total` files: an equal share each when there are fewer files
 * than the budget, else one tag in each of `budget` files chosen at random.
 */
function sampleQuota(total: number, budget: number): (position: SamplePosition) => number {
  if (total <= budget) {
    const share = Math.floor(budget / Math.max(1, total));
    return () => share;
  }
  const chosen = new Set<number>();
  while (chosen.size < budget) chosen.add(Math.floor(Math.random() * total));
  return (position) => (chosen.has(position.index) ? 1 : 0);
}

/** `quota` tags picked at random (all of them when there are no more). */
function sampleTags(tags: Record<string, string>, quota: number): Record<string, string> {
  const entries = Object.entries(tags);
  if (entries.length <= quota) return tags;
  for (let i = 0; i < quota; i++) {
    const j = i + Math.floor(Math.random() * (entries.length - i));
    [entries[i], entries[j]] = [entries[j] as [string, string], entries[i] as [string, string]];
  }
  return Object.fromEntries(entries.slice(0, quota));
}

interface RepositoryChecks {
  checks: Check[];
  pullUrls: string[];
}

interface ParsedMetadata {
  /** What the deep checks found, per checked Crane v4 file with raas records, in file order. */
  checked: RepositoryChecks[];
  /** Storage prefixes of the Crane v4 files with raas records. */
  repositories: Set<string>;
  /** Every repository name the valid files describe. */
  names: string[];
  /** False when the app repository itself could not be read. */
  readable: boolean;
}

/** Metadata files read and checked at once: enough to overlap I/O, few enough to bound memory. */
const FILES_IN_FLIGHT = 4;
/**
 * Files asked of the app repository ahead of the one being checked: its reader answers one
 * request after another, so a few in flight would make each file wait for its own round trip.
 */
const READ_AHEAD = 32;

/**
 * Read, parse and lint every metadata file, one at a time (a few in flight), handing each clean
 * Crane v4 file with raas records to `deep` and keeping only its findings.
 */
async function readMetadata(
  isv: string,
  app: AppRepository,
  checks: CheckList,
  counted: (files: number) => void,
  mark: (meta: CraneMetadata | undefined) => void,
  deep: (published: Published, position: SamplePosition) => Promise<RepositoryChecks> | undefined,
): Promise<ParsedMetadata> {
  const out: ParsedMetadata = { checked: [], repositories: new Set(), names: [], readable: false };
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
    counted(files.length);
  } catch (error) {
    checks.fail(
      "app repository",
      `cannot read ${app.remote}: ${errorMessage(error)}`,
      `run \`raas setup ${isv}\``,
    );
    mark(undefined);
    return out;
  }
  // Reads are started in file order up to READ_AHEAD files ahead, each taken once. They wait
  // as bytes: a file's text is made when its turn comes, and is garbage once parsed (as text
  // read ahead, 10,000 files of 15 KB were promoted to the old generation, then dropped).
  const reads = new Map<number, Promise<Buffer | string | undefined>>();
  const readOne = (file: string | undefined) =>
    app.readBytes === undefined ? app.read(`data/${file ?? ""}`) : app.readBytes(`data/${file ?? ""}`);
  let requested = 0;
  const readAhead = async (index: number): Promise<string | undefined> => {
    for (; requested < Math.min(files.length, index + READ_AHEAD); requested++) {
      const read = readOne(files[requested]);
      read.catch(() => undefined); // awaited, and its error reported, when its turn comes
      reads.set(requested, read);
    }
    const read = reads.get(index) ?? readOne(files[index]);
    reads.delete(index);
    const content = await read;
    return typeof content === "string" ? content : content?.toString("utf8");
  };
  const results = await mapLimit(files, FILES_IN_FLIGHT, async (file, index) => {
    const path = `data/${file}`;
    const found = new CheckList();
    let meta: CraneMetadata;
    try {
      meta = parseMetadata((await readAhead(index)) ?? "", path);
      mark(meta);
    } catch (error) {
      mark(undefined);
      found.fail(
        `metadata ${file}`,
        `malformed metadata: ${errorMessage(error)}`,
        "fix or remove the file in the app repository, or push the image again",
      );
      return { checks: found.checks };
    }
    const name = meta["repo-registry-id"];
    const problems = lintMetadata(meta, path, isv);
    for (const problem of problems) {
      found.fail(`metadata ${file}`, problem, "push the image again to rewrite the file");
    }
    if (meta.version !== 4 || meta["x-raas"] === undefined) {
      found.warn(
        name,
        `${path} is Crane v${meta.version} metadata without raas records; only the file was checked`,
      );
      return { checks: found.checks, name };
    }
    if (problems.length > 0) return { checks: found.checks, name };
    const published = { file: path, meta: meta as Published["meta"] };
    return {
      checks: found.checks,
      name,
      repository: meta.repository,
      deep: await deep(published, { index }),
    };
  });
  for (const result of results) {
    for (const check of result.checks) checks.add(check);
    if (result.name !== undefined) out.names.push(result.name);
    if (result.repository !== undefined) out.repositories.add(result.repository);
    if (result.deep !== undefined) out.checked.push(result.deep);
  }
  out.names.sort();
  return out;
}

/** Image ids and tags of a Crane v1 file. */
interface V1Files {
  ids: Set<string>;
  tags: Record<string, string>;
}

/** The v1 files a Pulp export publishes beside its v4 file (data/v1/<isv>-<repo>.json). */
async function readV1Metadata(
  isv: string,
  app: AppRepository,
  checks: CheckList,
  mark: (meta: CraneMetadata | undefined) => void,
): Promise<Map<string, V1Files>> {
  const v1 = new Map<string, V1Files>();
  const files = (await app.list("data/v1").catch(() => [])).filter((f) => f.endsWith(".json")).sort();
  for (const file of files) {
    const path = `data/v1/${file}`;
    try {
      const meta = parseMetadata((await app.read(path)) ?? "", path);
      mark(meta);
      if (meta.version !== 1) {
        checks.fail(
          `metadata v1/${file}`,
          `${path} is Crane v${meta.version} metadata; data/v1/ holds version 1 files`,
          "move the file to data/",
        );
        continue;
      }
      if (!file.startsWith(`${isv}-`)) continue;
      v1.set(meta.repository, { ids: new Set(meta.images.map((i) => i.id)), tags: meta.tags });
    } catch (error) {
      mark(undefined);
      checks.fail(
        `metadata v1/${file}`,
        `malformed metadata: ${errorMessage(error)}`,
        "push the image again to rewrite the file",
      );
    }
  }
  return v1;
}

interface StorageListing {
  inventory?: Inventory;
  probes: string[];
  partial?: PartialWrite[];
  error?: { cause: unknown };
}
type PartialWrite = Awaited<ReturnType<BlobStore["partialWrites"]>>[number];

/**
 * List storage once (everything, or the given prefixes), the probes and the partial writes;
 * errors are reported later.
 */
async function listStorage(
  store: BlobStore,
  repositories: readonly string[] | undefined,
): Promise<StorageListing> {
  let inventory: Inventory | undefined;
  try {
    inventory = await takeInventory(store, repositories);
    return { inventory, probes: await store.leftoverProbes(), partial: await store.partialWrites() };
  } catch (error) {
    return { ...(inventory === undefined ? {} : { inventory }), probes: [], error: { cause: error } };
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

function checkStorageList(inventory: Inventory, known: ReadonlySet<string>, checks: CheckList): void {
  const stray = [...inventory.entries()].filter(
    ([repository]) => /^[a-z0-9]/.test(repository) && !known.has(repository),
  );
  for (const [repository, objects] of stray) {
    checks.warn(
      `storage ${repository}/`,
      `storage holds ${objects.size} object(s) under ${repository}/ but no metadata file describes that repository ` +
        "(a deleted repository or an interrupted first push: `raas gc` frees it once it is older than the grace period)",
    );
  }
  const loose = inventory.get("");
  if (loose !== undefined) {
    checks.fail(
      "storage",
      `${loose.size} object(s) at the top of storage outside any repository (${loose.firstKey() ?? ""})`,
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
function checkPartialWrites(isv: string, partial: readonly PartialWrite[], checks: CheckList): void {
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
