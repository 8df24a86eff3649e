import { parseMetadata } from "../crane/parse.js";
import { applyPublication } from "../crane/publication.js";
import { serializeMetadata } from "../crane/serialize.js";
import type { CraneV4 } from "../crane/types.js";
import { UserError } from "../errors.js";
import { pushEvents } from "../events/push-events.js";
import { toDockerSchema2 } from "../image/docker-schema2.js";
import { dashed, metadataFileName } from "../image/names.js";
import { MaskSet } from "../publish/mask.js";
import { publishTarget, type PublishTargetResult } from "../publish/publish.js";
import { selectTargets } from "../publish/targets.js";
import type { BlobOutcome } from "../publish/upload.js";
import { convertV1Source, publishV1Targets, type V1Publication } from "../publish/v1-push.js";
import { openImageSource, resolveImagePath } from "../sources/index.js";
import type { CommandContext, PushDeps } from "./types.js";
import { waitForTags } from "./wait.js";

export interface PushOptions {
  isv: string;
  image: string;
  name?: string;
  tags?: string[];
  /** Wait until the registry serves the new tags. */
  wait: boolean;
  timeoutSeconds: number;
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
  commit: string | undefined;
  /** true when the registry answered the new tags, false when it did not, null when not checked. */
  deployed: boolean | null;
  durationMs: number;
}

export async function push(options: PushOptions, ctx: CommandContext, deps: PushDeps): Promise<PushResult> {
  const started = Date.now();
  const { reporter } = ctx;
  // The app repository is cloned while the input is read and checked.
  deps.app.warm?.();
  const path = await resolveImagePath(options.image, ctx.cwd);
  const source = await openImageSource(path);
  try {
    const federation = deps.federation === undefined ? undefined : await deps.federation();
    let input = source;
    let converted: Awaited<ReturnType<typeof convertV1Source>> | undefined;
    if (source.v1 !== undefined) {
      try {
        converted = await convertV1Source(source, source.v1, federation);
      } finally {
        // What was learnt about vendor layers stays learnt, even if this push fails later.
        await federation?.save();
      }
      input = { ...source, images: converted.images };
    }
    const selected = selectTargets(input, {
      ...(options.name === undefined ? {} : { name: options.name }),
      ...(options.tags === undefined || options.tags.length === 0 ? {} : { tags: options.tags }),
    });
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

    const images: PushedImage[] = [];
    const publications: { metadataPath: string; result: PublishTargetResult }[] = [];
    for (const { target, from } of targets) {
      const repository = dashed(target.name);
      const metadataPath = `data/${metadataFileName(options.isv, target.name)}`;
      const existing = await readExisting(deps, metadataPath);
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
      });
      publications.push({ metadataPath, result });
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

    const v1: V1Publication[] =
      converted === undefined
        ? []
        : await publishV1Targets({
            isv: options.isv,
            targets: selected,
            converter: converted.converter,
            federation,
            store: deps.store,
            reporter,
            repositoryUrl: deps.repositoryUrl,
            concurrency: deps.concurrency,
            publicRead: deps.publicRead,
          });
    for (const publication of v1) {
      for (const image of images) {
        if (image.name === publication.name) image.v1MetadataFile = publication.metadataPath;
      }
    }

    // Metadata last: one commit for the whole input, so the registry switches in one step.
    const message = `${options.isv} push ${images.map((i) => `${i.name}:${i.tags.join(",")}`).join(" ")}`;
    const step = reporter.step(`Committing metadata to ${deps.app.remote}`);
    const { commit, attempts } = await deps.app.update(message, async (files) => {
      const now = new Date();
      for (const { metadataPath, result } of publications) {
        const text = await files.read(metadataPath);
        const current =
          text === undefined ? undefined : asV4(parseMetadata(text, metadataPath), metadataPath);
        const next = applyPublication(current, result.publication, now);
        for (const manifest of result.manifestFiles) {
          await files.write(`manifests/${result.publication.repository}/${manifest.digest}`, manifest.bytes);
        }
        // applyPublication keeps an unchanged file as it was: identical bytes, no commit.
        const serialized = serializeMetadata(next);
        if (serialized !== text) await files.write(metadataPath, serialized);
      }
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
    });
    step.succeed(
      commit === undefined
        ? "Metadata already up to date; nothing to commit"
        : `Committed ${commit.slice(0, 12)}${attempts > 1 ? ` after ${attempts} attempts (concurrent pushes)` : ""}`,
    );

    if (commit !== undefined && deps.recordEvents !== undefined) {
      // Push events (docs/events.md): in the outbox once the publication is committed.
      const sizes = new Map(
        publications.flatMap((p) => p.result.manifestFiles).map((m) => [m.digest as string, m.bytes.length]),
      );
      await deps.recordEvents(pushEvents(images, sizes, deps.registryUrl, "raas-cli"));
    }
    if (commit !== undefined && deps.deploy !== undefined) await deps.deploy();
    let deployed: boolean | null = null;
    if (options.wait) {
      deployed = await waitForTags(deps.registryUrl, images, {
        timeoutMs: options.timeoutSeconds * 1000,
        reporter,
      });
    }
    return {
      isv: options.isv,
      source: { path: source.path, format: source.format },
      images,
      commit,
      deployed,
      durationMs: Date.now() - started,
    };
  } finally {
    await source.close();
  }
}

async function readExisting(deps: PushDeps, path: string): Promise<CraneV4 | undefined> {
  const text = await deps.app.read(path);
  return text === undefined ? undefined : asV4(parseMetadata(text, path), path);
}

function asV4(meta: ReturnType<typeof parseMetadata>, path: string): CraneV4 | undefined {
  if (meta.version === 4) return meta;
  throw new UserError(`${path} is Crane metadata version ${meta.version}; raas push writes version 4`, {
    hint: "Move the old file aside (or publish under another name); raas will not overwrite metadata it did not write.",
  });
}
