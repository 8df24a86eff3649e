import { parseMetadata } from "../crane/parse.js";
import { InterruptedError, throwIfInterrupted } from "../errors.js";
import type { CraneV4 } from "../crane/types.js";
import { pushEvents } from "../events/push-events.js";
import { toDockerSchema2 } from "../image/docker-schema2.js";
import { dashed, metadataFileName } from "../image/names.js";
import { MaskSet } from "../publish/mask.js";
import { asV4, writePublications } from "../publish/metadata-commit.js";
import { refuseTakenPrefix } from "../publish/prefix-owner.js";
import { publishTarget, type PublishTargetResult } from "../publish/publish.js";
import { restoreSmallObjects, restoreVanished } from "../publish/recheck.js";
import { selectTargets } from "../publish/targets.js";
import type { BlobOutcome } from "../publish/upload.js";
import { checkV1Files, publishV1Targets, type V1Publication } from "../publish/v1-push.js";
import { DEFAULT_MAX_INFLATED, openImageSource, resolveImagePath } from "../sources/index.js";
import { PARTIAL_WRITE_GRACE_MS } from "../storage/types.js";
import { requireSetUp } from "./checks.js";
import { UsageError, UserError } from "../errors.js";
import type { RegistrySourceOptions } from "../sources/registry/index.js";
import { mapName, type NameRule } from "../sync/rules.js";
import type { CommandContext, PushDeps, RegistryTlsHint } from "./types.js";
import { notifyRegistry } from "./notify.js";
import { waitForTags } from "./wait.js";

export interface PushOptions {
  isv: string;
  image: string;
  name?: string;
  tags?: string[];
  /** Wait until the registry serves the new tags. */
  wait: boolean;
  timeoutSeconds: number;
  /** How to reach a `docker://` source (TLS, CA bundle, credential variables). */
  source?: RegistrySourceOptions;
  /** Original-name rule for the name the input records (ignored when `name` is given). */
  nameRule?: NameRule;
  /** Published tag for an input tag (`13-test` -> `latest-test`). */
  renameTags?: Record<string, string>;
}

export interface PushedImage {
  name: string;
  repository: string;
  tags: string[];
  digest: string;
  mediaType: string;
  pullUrls: string[];
  blobs: BlobOutcome[];
  counts: { uploaded: number; present: number; masked: number };
  uploadedBytes: number;
  metadataFile: string;
  /** The Crane v1 file, for images read from a v1 input (Pulp export, pre-1.10 docker save). */
  v1MetadataFile?: string;
  /** With `docker_schema2`: the input's own root manifest, before it became Docker schema 2. */
  convertedFrom?: { digest: string; mediaType: string };
}

export interface PushResult {
  isv: string;
  source: { path: string; format: string };
  images: PushedImage[];
  /**
   * What the input held that is not published, each naming the input: names and tags that
   * break the grammar (with the reason), and images left with no valid name.
   */
  warnings: string[];
  commit: string | undefined;
  /**
   * true when the registry answered the new tags, false when it did not, null when not checked
   * (no --wait, or private tags and no login that may pull them).
   */
  deployed: boolean | null;
  /** How clients trust the registry (HTTPS and raas's CA directory, or plain HTTP). */
  registryTls: RegistryTlsHint;
  durationMs: number;
  /**
   * The signal (SIGINT, SIGTERM) that came after the metadata commit: the push is published;
   * what comes after the commit and can wait (the deploy, waiting for the registry) was skipped.
   */
  interrupted?: { signal: string; skipped: string[] };
}

export async function push(options: PushOptions, ctx: CommandContext, deps: PushDeps): Promise<PushResult> {
  const started = Date.now();
  const { signal } = ctx;
  throwIfInterrupted(signal, "nothing was pushed");
  // Until the metadata commit starts, an interrupt closes the store: uploads in flight end and
  // nothing more is written (README, "Interrupted pushes"). From the commit on, the push keeps
  // its store to finish what makes the publication whole (the checks after the commit, events).
  let committing = false;
  const stopUploads = (): void => {
    if (!committing) void deps.store.close().catch(() => undefined);
  };
  signal?.addEventListener("abort", stopUploads, { once: true });
  try {
    return await pushUntilInterrupted(options, ctx, deps, started, () => (committing = true));
  } catch (error) {
    // An upload the closed store cut off says so in storage terms; what the user needs to know
    // is that the push stopped before its commit.
    if (signal?.aborted === true && !committing && !(error instanceof InterruptedError)) {
      throw new InterruptedError(
        signal.reason,
        "nothing was committed; the registry serves what it served before",
        error,
      );
    }
    throw error;
  } finally {
    signal?.removeEventListener("abort", stopUploads);
  }
}

async function pushUntilInterrupted(
  options: PushOptions,
  ctx: CommandContext,
  deps: PushDeps,
  started: number,
  startCommit: () => void,
): Promise<PushResult> {
  const { reporter, signal } = ctx;
  await requireSetUp(options.isv, deps.platform);
  // What a killed push left half-written is removed once no push can still be writing it.
  const partial = await deps.store.removePartialWrites(PARTIAL_WRITE_GRACE_MS);
  if (partial > 0) reporter.info(`Removed ${partial} partial write(s) left by an interrupted push`);
  // The app repository is cloned while the input is read and checked.
  deps.app.warm?.();
  const path = await resolveImagePath(options.image, ctx.cwd);
  const federation = deps.federation === undefined ? undefined : await deps.federation();
  let source;
  try {
    source = await openImageSource(path, {
      registry: { env: ctx.env, options: options.source ?? {} },
      v1: {
        isMasked: (id) => federation?.isMasked(id) ?? false,
        vendorLayer: (id) => {
          if (federation === undefined) throw new Error(`no federation configured for masked layer ${id}`);
          return federation.vendorLayer(id);
        },
        maxInflated: deps.maxInflatedLayer ?? DEFAULT_MAX_INFLATED,
      },
    });
  } finally {
    // What was learnt about vendor layers while reading stays learnt, even if this push fails.
    await federation?.save();
  }
  try {
    // Names the input gives that are not valid are said before anything else can fail.
    const warnings = [...source.warnings];
    for (const warning of warnings) reporter.warn(warning);
    const selected = selectTargets(
      source,
      {
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.tags === undefined || options.tags.length === 0 ? {} : { tags: options.tags }),
      },
      warnings,
    );
    for (const warning of warnings.slice(source.warnings.length)) reporter.warn(warning);
    applyNameRules(selected, options);
    reporter.info(
      `Read ${source.format} ${source.path}: ${selected.map((t) => `${t.name}:${t.tags.join(",")}`).join(" ")}`,
    );
    const targets = selected.map((target) => {
      if (deps.dockerSchema2 !== true) return { target, from: undefined };
      const { root, conversions } = toDockerSchema2(target.image.root, source.path);
      for (const c of conversions) {
        reporter.info(
          `${target.name}: ${c.fromMediaType} ${c.from} is published as ${c.toMediaType} ${c.to}`,
        );
      }
      const from = conversions.length === 0 ? undefined : target.image.root;
      return { target: { ...target, image: { ...target.image, root } }, from };
    });
    const mask = new MaskSet([...deps.maskLayers, ...(federation?.maskIds() ?? [])]);

    // Everything that can refuse the push is checked before the first upload.
    await checkV1Files(options.isv, selected, (p) => deps.app.read(p));
    const existingFiles = new Map<string, CraneV4 | undefined>();
    for (const target of selected) {
      const metadataPath = `data/${metadataFileName(options.isv, target.name)}`;
      if (!existingFiles.has(metadataPath)) {
        existingFiles.set(metadataPath, await readExisting(deps, metadataPath));
      }
    }
    // A storage prefix is the dashed name, which two names can share (users/ann/b-app and
    // users/ann-b/app): nothing is uploaded into a prefix another repository holds.
    const prefixes = new Map<string, string>();
    for (const target of selected) {
      const prefix = dashed(target.name);
      const other = prefixes.get(prefix);
      if (other !== undefined && other !== target.name) {
        throw new UserError(`${other} and ${target.name} would both be stored under ${prefix}`, {
          hint: "Storage prefixes replace / with -: push one of them under a name without that clash.",
          code: "PREFIX_TAKEN",
        });
      }
      prefixes.set(prefix, target.name);
      const existing = existingFiles.get(`data/${metadataFileName(options.isv, target.name)}`);
      await refuseTakenPrefix(deps.store, target.name, prefix, {
        metadataFile: existing?.["repo-registry-id"],
      });
    }

    const images: PushedImage[] = [];
    const publications: {
      metadataPath: string;
      result: PublishTargetResult;
      root: (typeof targets)[number]["target"]["image"]["root"];
      referenced: ReadonlySet<string>;
    }[] = [];
    for (const { target, from } of targets) {
      const repository = dashed(target.name);
      const metadataPath = `data/${metadataFileName(options.isv, target.name)}`;
      const existing = existingFiles.get(metadataPath);
      // Blobs and manifests the metadata already references are trusted as stored (docs/gc.md).
      const ext = existing?.["x-raas"];
      const referenced = new Set<string>([
        ...Object.keys(ext?.blobs ?? {}),
        ...Object.keys(ext?.manifests ?? {}),
      ]);
      const result = await publishTarget({
        store: deps.store,
        reporter,
        name: target.name,
        repository,
        url: deps.repositoryUrl(repository),
        tags: target.tags,
        root: target.image.root,
        mask,
        existingTags: Object.keys(existing?.["x-raas"]?.tags ?? {}),
        concurrency: deps.concurrency,
        publicRead: deps.publicRead,
        reuse: { referenced, writtenSince: new Date(started) },
      });
      publications.push({ metadataPath, result, root: target.image.root, referenced });
      const count = (action: BlobOutcome["action"]): number =>
        result.blobs.filter((b) => b.action === action).length;
      images.push({
        name: target.name,
        repository,
        tags: target.tags,
        digest: target.image.root.digest,
        mediaType: target.image.root.mediaType,
        pullUrls: target.tags.map((tag) => `${deps.registryHost}/${target.name}:${tag}`),
        blobs: result.blobs,
        counts: { uploaded: count("uploaded"), present: count("present"), masked: count("masked") },
        uploadedBytes: result.uploadedBytes,
        metadataFile: metadataPath,
        ...(from === undefined ? {} : { convertedFrom: { digest: from.digest, mediaType: from.mediaType } }),
      });
    }

    const v1: V1Publication[] = await publishV1Targets({
      isv: options.isv,
      targets: selected,
      federation,
      store: deps.store,
      reporter,
      repositoryUrl: (repository) => deps.repositoryUrl(repository),
      concurrency: deps.concurrency,
      publicRead: deps.publicRead,
      reuse: { referencedIds: (path) => referencedV1Ids(deps, path), writtenSince: new Date(started) },
    });
    for (const publication of v1) {
      for (const image of images) {
        if (image.name === publication.name) image.v1MetadataFile = publication.metadataPath;
      }
    }

    // Metadata last: one commit for the whole input, so the registry switches in one step.
    throwIfInterrupted(signal, "nothing was committed; the registry serves what it served before");
    startCommit();
    const message = `${options.isv} push ${images.map((i) => `${i.name}:${i.tags.join(",")}`).join(" ")}`;
    const step = reporter.step(`Committing metadata to ${deps.app.remote}`);
    const { commit, attempts } = await deps.app.update(message, async (files) => {
      const now = new Date();
      await writePublications(files, publications, now);
      for (const publication of v1) {
        const current = await files.read(publication.metadataPath);
        const text = publication.render(current);
        if (text !== current) await files.write(publication.metadataPath, text);
      }
      // The registry's global v1 image index resolves vendor ids through these files.
      for (const vendor of federation?.vendorFiles ?? []) {
        const target = `data/redhat/${vendor.name}`;
        if ((await files.read(target)) !== vendor.text) await files.write(target, vendor.text);
      }
      // The last moment before the commit is made and pushed (again on each attempt).
      throwIfInterrupted(signal, "nothing was committed; the registry serves what it served before");
    });
    step.succeed(
      commit === undefined
        ? "Metadata already up to date; nothing to commit"
        : `Committed ${commit.slice(0, 12)}${attempts > 1 ? ` after ${attempts} attempts (concurrent pushes)` : ""}`,
    );

    if (commit !== undefined) {
      for (const { result, root, referenced } of publications) {
        await restoreVanished({
          store: deps.store,
          reporter,
          repository: result.publication.repository,
          root,
          outcomes: result.blobs,
          referenced,
          concurrency: deps.concurrency,
          publicRead: deps.publicRead,
        });
        await restoreSmallObjects({
          store: deps.store,
          reporter,
          repository: result.publication.repository,
          objects: result.smallObjects,
          publicRead: deps.publicRead,
        });
      }
    }
    if (commit !== undefined && deps.recordEvents !== undefined) {
      // Push events (docs/events.md): in the outbox once the publication is committed.
      const sizes = new Map(
        publications.flatMap((p) => p.result.manifestFiles).map((m) => [m.digest as string, m.bytes.length]),
      );
      await deps.recordEvents(pushEvents(images, sizes, deps.platform.appUrl));
    }
    // Interrupted after the commit: the push is published; the deploy and the wait are not started.
    const skipped: string[] = [];
    const deploy = deps.platform.deployAfterPublish;
    if (commit !== undefined && deploy !== undefined) {
      if (signal?.aborted === true) skipped.push("deploy");
      else await deploy(options.timeoutSeconds * 1000);
    }
    // A registry following the app repository looks now instead of at its next check.
    if (commit !== undefined) {
      await notifyRegistry(deps.platform.appUrl, reporter, deps.registry);
    }
    let deployed: boolean | null = null;
    if (options.wait && signal?.aborted === true) skipped.push("wait");
    else if (options.wait) {
      deployed = await waitForTags(deps.platform.appUrl, images, {
        timeoutMs: options.timeoutSeconds * 1000,
        reporter,
        isv: options.isv,
        registry: await deps.registry(),
        ...(signal === undefined ? {} : { signal }),
      });
      if (signal?.aborted === true) skipped.push("wait");
    }
    return {
      isv: options.isv,
      source: { path: source.path, format: source.format },
      images,
      warnings,
      commit,
      deployed,
      registryTls: deps.registryTls,
      durationMs: Date.now() - started,
      ...(signal?.aborted === true ? { interrupted: { signal: String(signal.reason), skipped } } : {}),
    };
  } finally {
    await source.close();
  }
}

/** Image ids of a repository's current Crane v1 file: their stored files may be trusted. */
async function referencedV1Ids(deps: PushDeps, path: string): Promise<ReadonlySet<string>> {
  const text = await deps.app.read(path);
  if (text === undefined) return new Set();
  const meta = parseMetadata(text, path);
  return new Set(meta.version === 1 ? meta.images.map((i) => i.id) : []);
}

/**
 * Original names and tag renames, applied after the targets are chosen (push flags, sync rules).
 * Two source tags that would land on one published tag (two renamed onto it, or one renamed
 * onto a tag kept as it is) are refused before anything is uploaded: neither may silently win.
 */
function applyNameRules(targets: ReturnType<typeof selectTargets>, options: PushOptions): void {
  const renames = options.renameTags;
  const renamed = (t: string) => (renames !== undefined && Object.hasOwn(renames, t) ? (renames[t] ?? t) : t);
  // Published name:tag -> the source name and tag that claimed it.
  const claimed = new Map<string, { name: string; tag: string }>();
  for (const target of targets) {
    const source = target.name;
    if (options.name === undefined && options.nameRule !== undefined) {
      target.name = mapName(target.name, options.nameRule);
    }
    const tags = new Set<string>();
    for (const tag of target.tags) {
      const as = renamed(tag);
      const key = `${target.name}:${as}`;
      const other = claimed.get(key);
      if (other !== undefined && (other.name !== source || other.tag !== tag)) {
        const [a, b] =
          other.name === source ? [other.tag, tag] : [`${other.name}:${other.tag}`, `${source}:${tag}`];
        throw new UsageError(`tags ${a} and ${b} would both be published as ${key}; nothing was pushed`, {
          hint: "Change or drop a --rename-tag (or --strip-prefix/--slash) so that each published tag has one source tag.",
        });
      }
      claimed.set(key, { name: source, tag });
      tags.add(as);
    }
    target.tags = [...tags].sort();
  }
}

async function readExisting(deps: PushDeps, path: string): Promise<CraneV4 | undefined> {
  const text = await deps.app.read(path);
  return text === undefined ? undefined : asV4(parseMetadata(text, path), path);
}
