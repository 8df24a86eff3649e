/**
 * `raas promote <isv> <name>:<tag> --from test --to prod`: publish the exact manifest bytes a
 * tag has in one environment in another (docs/environments.md). Everything that can refuse is
 * checked before anything is written: the source has the tag, serves it, and stores every
 * manifest and blob it needs; the target does not have the tag at another digest (unless
 * --force). Then the objects (none on a shared store; server-side copies between buckets),
 * then one metadata commit in the target's app repository, authored by whoever runs raas.
 */
import type { AppRepository } from "../app/app-repository.js";
import type { Platform } from "../app/platform.js";
import type { RegistryClient, RegistryTlsHint } from "../app/registry-http.js";
import type { IsvSettings } from "../config/types.js";
import { blobKey, manifestKey, tagsListKey } from "../crane/keys.js";
import { parseMetadata } from "../crane/parse.js";
import type { CraneV4 } from "../crane/types.js";
import { APPROVALS_FILE, parseApprovals, promoted, serializeApprovals } from "../environments/approvals.js";
import {
  closurePublication,
  parseTagReference,
  tagClosure,
  type Closure,
} from "../environments/promotion.js";
import { UserError } from "../errors.js";
import { recordPromotion } from "../events/push-events.js";
import { sha256Digest, type Digest } from "../image/digest.js";
import { MANIFEST_ACCEPT } from "../image/media-types.js";
import { isTag, metadataFileName } from "../image/names.js";
import { refuseTakenPrefix } from "../publish/prefix-owner.js";
import { asV4, writePublications } from "../publish/metadata-commit.js";
import { mapLimit } from "../publish/pool.js";
import type { BlobStore } from "../storage/types.js";
import { requireSetUp } from "./checks.js";
import { checkPromotionAccess } from "./promotion-access.js";
import type { CommandContext } from "./types.js";
import { waitForTags } from "./wait.js";

/** One environment as a promotion sees it. */
export interface EnvironmentSide {
  name: string;
  settings: IsvSettings;
  store: BlobStore;
  app: AppRepository;
  platform: Platform;
  /** Crane's `url` for a repository of this environment. */
  repositoryUrl(repository: string): string;
  /**
   * How raas reaches this environment's registry (registryClientFor): its CA over HTTPS and
   * raas's login. Every request promote and demote make to a registry goes through it.
   */
  registry: () => Promise<RegistryClient>;
  /** How clients trust this environment's registry, for the pull commands shown. */
  registryTls: RegistryTlsHint;
}

export interface PromoteOptions {
  isv: string;
  /** `<name>:<tag>` in the source environment. */
  reference: string;
  /** The tag in the target (`--as`); default: the same tag. */
  as?: string;
  /** Show what would change; change nothing. */
  plan: boolean;
  /** Move a tag the target has at another digest. */
  force: boolean;
  wait: boolean;
  timeoutSeconds: number;
}

/** How the objects reach the target's store. */
export type CopyMode = "shared" | "server-side" | "streamed";

export interface PromoteResult {
  isv: string;
  name: string;
  tag: string;
  targetTag: string;
  from: string;
  to: string;
  digest: Digest;
  mediaType: string;
  plan: boolean;
  /** false when the target already had the tag at this digest: nothing was written. */
  changed: boolean;
  /** The digest the target's tag had before (moved with --force). */
  previousDigest?: Digest;
  manifests: number;
  copyMode: CopyMode;
  blobs: { total: number; masked: number; present: number; copied: number; copiedBytes: number };
  /** The source registry answered the tag with this digest (null: not checked, it needs a login). */
  sourceServes: boolean | null;
  commit: string | undefined;
  deployed: boolean | null;
  pullUrl: string;
  /** How clients trust the target's registry (the pull command's --cert-dir). */
  registryTls: RegistryTlsHint;
  durationMs: number;
}

export async function promote(
  options: PromoteOptions,
  ctx: CommandContext,
  deps: { source: EnvironmentSide; target: EnvironmentSide },
): Promise<PromoteResult> {
  const started = Date.now();
  const { source, target } = deps;
  const { reporter } = ctx;
  const { name, tag } = parseTagReference(options.reference, "promote");
  const targetTag = options.as ?? tag;
  if (!isTag(targetTag)) {
    throw new UserError(`cannot promote as "${targetTag}": not a valid tag`, { exitCode: 2, code: "USAGE" });
  }
  if (source.name === target.name) {
    throw new UserError(`cannot promote from ${source.name} to itself`, {
      hint: "--from and --to name two different environments.",
      exitCode: 2,
      code: "USAGE",
    });
  }
  await requireSetUp(`${options.isv} --env ${source.name}`, source.platform);
  await requireSetUp(`${options.isv} --env ${target.name}`, target.platform);
  // Who may promote into the target (its access.yaml's promotions), before anything is read or written.
  const grant = await checkPromotionAccess(target, "promote", options.isv, name, targetTag);
  const metadataPath = `data/${metadataFileName(options.isv, name)}`;

  // The source: its record of the tag, the exact manifest bytes, every blob in its store.
  const meta = await readV4(source, metadataPath, options.isv, name);
  const digest = meta?.["x-raas"]?.tags[tag];
  if (meta === undefined || digest === undefined) {
    const known = Object.keys(meta?.["x-raas"]?.tags ?? {}).sort();
    throw new UserError(`${source.name} has no ${name}:${tag}; nothing to promote`, {
      hint:
        known.length === 0
          ? `\`raas status ${options.isv} --env ${source.name}\` lists what ${source.name} has.`
          : `${name} has ${known.slice(0, 20).join(", ")}${known.length > 20 ? ", ..." : ""} in ${source.name}.`,
      code: "NOT_FOUND",
    });
  }
  const closure = tagClosure(meta, digest, `${source.name} ${metadataPath}`);
  const rootRecord = closure.manifests[0]?.record;
  if (rootRecord === undefined) throw new Error("a tag closure always holds its root");
  const bytes = await manifestBytes(source, meta.repository, closure);
  await requireBlobs(source, meta.repository, closure);
  const sourceServes = await servesTag(source, name, tag, digest);

  // The target: refuse to move its tag silently.
  const targetMeta = await readV4(target, metadataPath, options.isv, name);
  // Nor write into a storage prefix another repository of the target holds (a deleted one's).
  await refuseTakenPrefix(target.store, name, meta.repository, {
    metadataFile: targetMeta?.["repo-registry-id"],
  });
  const previous = targetMeta?.["x-raas"]?.tags[targetTag];
  if (previous !== undefined && previous !== digest && !options.force) {
    throw new UserError(
      `${target.name} already has ${name}:${targetTag} at ${previous}, not ${digest}; nothing was promoted`,
      { hint: "Pass --force to move the tag (or --plan to see what would change).", code: "CONFLICT" },
    );
  }
  const copyMode = modeOf(source, target);
  const hosted = closure.blobs.filter((b) => b.url === undefined);
  const missing =
    copyMode === "shared"
      ? []
      : (
          await mapLimit(hosted, 16, async (b) => {
            const info = await target.store.head(blobKey(meta.repository, b.digest));
            return info?.size === b.size ? undefined : b;
          })
        ).filter((b) => b !== undefined);
  const changed = previous !== digest;
  const result = (
    commit: string | undefined,
    deployed: boolean | null,
    copiedBytes: number,
  ): PromoteResult => ({
    isv: options.isv,
    name,
    tag,
    targetTag,
    from: source.name,
    to: target.name,
    digest,
    mediaType: rootRecord.mediaType,
    plan: options.plan,
    changed,
    ...(previous === undefined || previous === digest ? {} : { previousDigest: previous }),
    manifests: closure.manifests.length,
    copyMode,
    blobs: {
      total: closure.blobs.length,
      masked: closure.blobs.length - hosted.length,
      present: hosted.length - missing.length,
      copied: missing.length,
      copiedBytes,
    },
    sourceServes,
    commit,
    deployed,
    pullUrl: `${new URL(target.platform.appUrl).host}/${name}:${targetTag}`,
    registryTls: target.registryTls,
    durationMs: Date.now() - started,
  });
  if (options.plan) {
    return result(
      undefined,
      null,
      missing.reduce((n, b) => n + b.size, 0),
    );
  }
  if (!changed) {
    reporter.info(`${target.name} already has ${name}:${targetTag} at ${digest}; nothing to do`);
    return result(undefined, null, 0);
  }

  // Objects first: blobs, manifests by digest, then the tag's own objects.
  const step = reporter.step(`Promoting ${name}:${tag} from ${source.name} to ${target.name}`);
  // Server-side copies cost no local memory; the bound keeps the S3 service's load polite.
  await mapLimit(missing, 4, (blob) =>
    copyBlob(copyMode, source, target, blobKey(meta.repository, blob.digest), blob.digest, blob.size),
  );
  const copiedBytes = missing.reduce((n, b) => n + b.size, 0);
  for (const { digest: d, record } of closure.manifests) {
    const key = manifestKey(meta.repository, record.mediaType, d);
    const body = bytes.get(d);
    if (body === undefined) throw new Error(`manifest ${d} was read before`);
    const info = await target.store.head(key);
    if (info?.size !== body.length) {
      await target.store.put(key, body, { contentType: record.mediaType, digest: d, size: body.length });
    }
  }
  const rootBytes = bytes.get(digest);
  if (rootBytes === undefined) throw new Error("the root manifest was read before");
  await target.store.put(manifestKey(meta.repository, rootRecord.mediaType, targetTag), rootBytes, {
    contentType: rootRecord.mediaType,
  });

  // Then the one commit that makes the target serve it.
  const publication = closurePublication(meta, closure, targetTag, target.repositoryUrl(meta.repository));
  const sourceApprovals = parseApprovals(await source.app.read(APPROVALS_FILE));
  const ref = `${name}:${targetTag}`;
  const message =
    `${options.isv} promote ${name}:${tag} from ${source.name} to ${target.name}` +
    `${targetTag === tag ? "" : ` as ${targetTag}`}\n\n` +
    `Digest: ${digest}\nPromoted-from: ${source.name}\n` +
    (grant === undefined ? "" : `Promoted-by: ${grant.login} (${grant.rule})\n`) +
    (previous !== undefined && previous !== digest ? `Replaces: ${previous}\n` : "");
  let tags: string[] = [];
  const { commit } = await target.app.update(message, async (files) => {
    const now = new Date();
    // Another promotion or push may have moved the tag since the check above: check again.
    const current = await files.read(metadataPath);
    const moved =
      current === undefined
        ? undefined
        : asV4(parseMetadata(current, metadataPath), metadataPath)?.["x-raas"]?.tags[targetTag];
    if (moved !== undefined && moved !== previous && moved !== digest && !options.force) {
      throw new UserError(
        `${target.name}'s ${name}:${targetTag} moved to ${moved} meanwhile; nothing was committed`,
        { hint: "Run the promotion again (with --plan first).", code: "CONFLICT" },
      );
    }
    await writePublications(
      files,
      [
        {
          metadataPath,
          result: {
            publication,
            manifestFiles: closure.manifests.map((m) => ({
              digest: m.digest,
              bytes: bytes.get(m.digest) as Buffer,
            })),
            blobs: [],
            uploadedBytes: 0,
            smallObjects: [],
          },
        },
      ],
      now,
    );
    const written = await files.read(metadataPath);
    tags = Object.keys(
      (written === undefined ? undefined : asV4(parseMetadata(written, metadataPath), metadataPath))?.[
        "x-raas"
      ]?.tags ?? {},
    ).sort();
    const approvals = promoted(
      parseApprovals(await files.read(APPROVALS_FILE)),
      ref,
      digest,
      { env: source.name, record: sourceApprovals[`${name}:${tag}`] },
      { env: target.name, since: now.toISOString() },
    );
    await files.write(APPROVALS_FILE, serializeApprovals(approvals));
  });
  await target.store.put(tagsListKey(meta.repository), Buffer.from(JSON.stringify({ name, tags })), {
    contentType: "application/json",
  });
  step.succeed(
    `Promoted ${name}:${tag} (${digest}) to ${target.name}` +
      `${commit === undefined ? "" : ` (commit ${commit.slice(0, 12)})`}` +
      `${copyMode === "shared" ? ", no bytes moved (shared store)" : `, ${missing.length} blob(s) copied ${copyMode}`}`,
  );
  // Events (docs/events.md): the promote event, in the destination's outbox once the commit is pushed.
  if (commit !== undefined && (target.settings.events ?? []).length > 0) {
    await recordPromotion(target.store, {
      repository: name,
      tag: targetTag,
      digest,
      mediaType: rootRecord.mediaType,
      size: rootBytes.length,
      from: source.name,
      to: target.name,
      registryUrl: target.platform.appUrl,
    });
  }

  const deploy = target.platform.deployAfterPublish;
  if (commit !== undefined && deploy !== undefined) await deploy(options.timeoutSeconds * 1000);
  const deployed = options.wait
    ? await waitForTags(target.platform.appUrl, [{ name, tags: [targetTag], digest }], {
        timeoutMs: options.timeoutSeconds * 1000,
        reporter,
        isv: options.isv,
        registry: await target.registry(),
      })
    : null;
  return result(commit, deployed, copiedBytes);
}

async function readV4(
  side: EnvironmentSide,
  path: string,
  isv: string,
  name: string,
): Promise<CraneV4 | undefined> {
  const text = await side.app.read(path);
  if (text === undefined) return undefined;
  const meta = asV4(parseMetadata(text, path), path);
  if (meta !== undefined && meta["repo-registry-id"] !== name) {
    throw new UserError(`${side.name} ${path} describes ${meta["repo-registry-id"]}, not ${name} (${isv})`);
  }
  return meta;
}

/** Every manifest's exact bytes from the source's store, each checked against its digest. */
async function manifestBytes(
  source: EnvironmentSide,
  repository: string,
  closure: Closure,
): Promise<Map<Digest, Buffer>> {
  const out = new Map<Digest, Buffer>();
  for (const { digest, record } of closure.manifests) {
    const key = manifestKey(repository, record.mediaType, digest);
    const body = await source.store.getBuffer(key).catch(() => undefined);
    if (body === undefined || body.length !== record.size || sha256Digest(body) !== digest) {
      throw new UserError(
        `${source.name}'s store ${body === undefined ? "has no" : "has a corrupt"} manifest ${digest} (${key}); nothing was promoted`,
        {
          hint: `Run \`raas status --env ${source.name}\`; push the image to ${source.name} again.`,
          code: "MISSING_OBJECT",
        },
      );
    }
    out.set(digest, body);
  }
  return out;
}

async function requireBlobs(source: EnvironmentSide, repository: string, closure: Closure): Promise<void> {
  // A masked vendor layer (with a url) is hosted by the vendor.
  const hosted = closure.blobs.filter((b) => b.url === undefined);
  const sizes = await mapLimit(
    hosted,
    16,
    async (b) => (await source.store.head(blobKey(repository, b.digest)))?.size,
  );
  const absent = hosted.filter((b, i) => sizes[i] !== b.size).map((b) => b.digest);
  if (absent.length > 0) {
    throw new UserError(
      `${source.name}'s store lacks ${absent.length} blob(s) the image needs (${absent.slice(0, 3).join(", ")}${absent.length > 3 ? ", ..." : ""}); nothing was promoted`,
      {
        hint: `Run \`raas status --env ${source.name}\`; push the image to ${source.name} again.`,
        code: "MISSING_OBJECT",
      },
    );
  }
}

/**
 * Whether the source registry answers the tag with the digest, over the source's client (its
 * CA over HTTPS). A registry that needs a login answers 401: then the metadata and storage
 * checks stand alone (null). raas's login is not sent: it is the operator's login for the
 * target's promotion rules, and the source's policy need not know it.
 */
async function servesTag(
  source: EnvironmentSide,
  name: string,
  tag: string,
  digest: Digest,
): Promise<boolean | null> {
  const { settings } = source;
  const appUrl = source.platform.appUrl;
  const url = `${appUrl}/v2/${name}/manifests/${tag}`;
  let response: Response;
  const client = await source.registry();
  try {
    response = await client.fetch(url, {
      method: "HEAD",
      headers: { Accept: MANIFEST_ACCEPT },
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    throw new UserError(
      `the ${settings.environment?.name ?? ""} registry at ${appUrl} does not answer; nothing was promoted`,
      {
        hint: `Is it running? \`raas status ${settings.isv} --env ${settings.environment?.name ?? ""}\``,
        cause: error,
      },
    );
  }
  if (response.status === 401 && (settings.auth?.mode ?? "off") !== "off") return null;
  const served = response.headers.get("docker-content-digest");
  if (response.status !== 200 || served !== digest) {
    throw new UserError(
      `the ${settings.environment?.name ?? ""} registry does not serve ${name}:${tag} as ${digest} (HEAD ${url}: ${response.status}${served === null ? "" : `, ${served}`}); nothing was promoted`,
      { hint: "Wait for its last deployment, or check it with `raas status`.", code: "NOT_SERVED" },
    );
  }
  return true;
}

function modeOf(source: EnvironmentSide, target: EnvironmentSide): CopyMode {
  const a = source.settings;
  const b = target.settings;
  if (a.environment?.sharedStore === true && b.environment?.sharedStore === true) return "shared";
  if (
    a.storage.kind === "s3" &&
    b.storage.kind === "s3" &&
    a.storage.endpoint === b.storage.endpoint &&
    a.storage.region === b.storage.region &&
    s3Of(source.store) !== undefined &&
    s3Of(target.store) !== undefined
  ) {
    return "server-side";
  }
  return "streamed";
}

interface S3Like {
  bucket: string;
  copyFromBucket(source: never, key: string): Promise<void>;
}

/** The S3 store under an environment's view, when it is one. */
function s3Of(store: BlobStore): S3Like | undefined {
  const inner = (store as { inner?: BlobStore }).inner ?? store;
  return typeof (inner as Partial<S3Like>).copyFromBucket === "function"
    ? (inner as unknown as S3Like)
    : undefined;
}

async function copyBlob(
  mode: CopyMode,
  source: EnvironmentSide,
  target: EnvironmentSide,
  key: string,
  digest: Digest,
  size: number,
): Promise<void> {
  const from = s3Of(source.store);
  const to = s3Of(target.store);
  if (mode === "server-side" && from !== undefined && to !== undefined) {
    // CopyObject (UploadPartCopy past 5 GiB): the bytes stay inside the S3 service.
    await to.copyFromBucket(from as never, key);
    const info = await target.store.head(key);
    if (info?.size !== size) {
      throw new Error(`server-side copy of ${key} left ${info?.size ?? "no"} bytes, not ${size}`);
    }
    return;
  }
  // Stores on different services (or local directories): stream, verified against the digest.
  await target.store.put(key, await source.store.get(key), { digest, size });
}
