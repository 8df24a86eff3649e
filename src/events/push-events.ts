/**
 * Events of the command line (`raas push`, `raas delete`, `raas gc --retention`) and of a
 * promotion between environments, stored in the same outbox as the registry's events: the
 * registry's delivery loop sends them.
 */
import { userInfo } from "node:os";
import { UserError } from "../errors.js";
import { isDigest } from "../image/digest.js";
import { isRepositoryName, isTag } from "../image/names.js";
import type { BlobStore } from "../storage/types.js";
import { makeEvent, type EventAction, type RegistryEvent } from "./envelope.js";
import { Outbox, producerId } from "./outbox.js";

/** `source.instanceID` of events recorded by the command line. */
export const CLI_INSTANCE = "raas-cli";

export interface PublishedImage {
  name: string;
  tags: string[];
  digest: string;
  mediaType: string;
}

/** The local user, the `actor.name` of command-line events (none when the system has no name). */
function localUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

interface ImageRef {
  repository: string;
  tag?: string;
  digest: string;
  mediaType: string;
  size: number;
}

function cliEvent(
  action: EventAction,
  image: ImageRef,
  method: string,
  registryUrl: string,
  now: Date,
  actor = localUser(),
): RegistryEvent {
  const registryHost = new URL(registryUrl).host;
  return makeEvent({
    action,
    target: {
      mediaType: image.mediaType,
      size: image.size,
      digest: image.digest,
      repository: image.repository,
      url: `${registryUrl}/v2/${image.repository}/manifests/${image.digest}`,
      ...(image.tag === undefined ? {} : { tag: image.tag }),
    },
    request: { method, host: registryHost, useragent: CLI_INSTANCE },
    ...(actor === undefined ? {} : { actor }),
    source: { addr: registryHost, instanceID: CLI_INSTANCE },
    now,
  });
}

/** One `push` event per published tag, like the reference registry's manifest push events. */
export function pushEvents(
  images: PublishedImage[],
  manifestSizes: Map<string, number>,
  registryUrl: string,
): RegistryEvent[] {
  const now = new Date();
  return images.flatMap((image) =>
    image.tags.map((tag) =>
      cliEvent(
        "push",
        {
          repository: image.name,
          tag,
          digest: image.digest,
          mediaType: image.mediaType,
          size: manifestSizes.get(image.digest) ?? 0,
        },
        "PUT",
        registryUrl,
        now,
      ),
    ),
  );
}

export interface RemovedImages {
  repository: string;
  /** Each removed tag with the manifest it pointed at. */
  tags: { tag: string; digest: string; mediaType: string; size: number }[];
  /** Each removed manifest (untagged: its tags are in `tags`). */
  manifests: { digest: string; mediaType: string; size: number }[];
}

/**
 * `delete` events of one deletion: one per removed tag (target.tag set) and one per removed
 * manifest (no tag), as the reference registry sends for a tag delete and a manifest delete.
 */
export function deleteEvents(removed: RemovedImages, registryUrl: string, now = new Date()): RegistryEvent[] {
  const repository = removed.repository;
  return [
    ...removed.tags.map((t) => cliEvent("delete", { repository, ...t }, "DELETE", registryUrl, now)),
    ...removed.manifests.map((m) => cliEvent("delete", { repository, ...m }, "DELETE", registryUrl, now)),
  ];
}

/** An environment name in a promotion: what an app repository branch or a section can be called. */
const ENVIRONMENT = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export interface Promotion {
  /** Repository name (`acme/app`). */
  repository: string;
  /** The tag promoted, when a tag was. */
  tag?: string;
  /** The manifest promoted. */
  digest: string;
  mediaType: string;
  /** Size of the manifest in bytes. */
  size: number;
  /** The environment the image came from and the one it went to (`staging`, `production`). */
  from: string;
  to: string;
  /** The registry URL of the destination environment (target.url and source.addr). */
  registryUrl: string;
  /** Who promoted; the local user when not given. */
  actor?: string;
  now?: Date;
}

/**
 * The `promote` event of one image promoted from one environment to another. The target is the
 * image in the destination (repository, tag, digest); the environments are in the event's
 * `x-raas.promotion` field (docs/events.md). Throws a UserError on an invalid name, digest or
 * environment, before anything is stored.
 */
export function promoteEvent(p: Promotion): RegistryEvent {
  const problems: string[] = [];
  if (!isRepositoryName(p.repository)) {
    problems.push(`"${p.repository.slice(0, 100)}" is not a repository name`);
  }
  if (p.tag !== undefined && !isTag(p.tag)) problems.push(`"${p.tag.slice(0, 150)}" is not a tag`);
  if (!isDigest(p.digest)) problems.push(`"${p.digest.slice(0, 100)}" is not a sha256 digest`);
  for (const [which, env] of [
    ["from", p.from],
    ["to", p.to],
  ] as const) {
    if (!ENVIRONMENT.test(env)) {
      problems.push(`${which} environment "${env.slice(0, 64)}" is not a valid name`);
    }
  }
  if (p.from === p.to) problems.push(`from and to are the same environment (${p.from})`);
  if (!Number.isSafeInteger(p.size) || p.size < 0) problems.push("size must be a whole number of bytes");
  if (problems.length > 0) {
    throw new UserError(`cannot record the promotion event: ${problems.join("; ")}`);
  }
  const event = cliEvent(
    "promote",
    {
      repository: p.repository,
      ...(p.tag === undefined ? {} : { tag: p.tag }),
      digest: p.digest,
      mediaType: p.mediaType,
      size: p.size,
    },
    "PUT",
    p.registryUrl,
    p.now ?? new Date(),
    p.actor ?? localUser(),
  );
  return { ...event, "x-raas": { promotion: { from: p.from, to: p.to } } };
}

/** Store `events` in the ISV's outbox; resolves once they are stored. The registry delivers them. */
export async function recordEvents(store: BlobStore, events: RegistryEvent[]): Promise<void> {
  if (events.length === 0) return;
  const outbox = new Outbox(store, producerId());
  await Promise.all(events.map((e) => outbox.record(e)));
}

/**
 * Record the promotion of one image (the API for promotion between environments): validates,
 * stores the `promote` event in the destination ISV's outbox before resolving, and returns it.
 * Call it once the promotion is committed.
 */
export async function recordPromotion(store: BlobStore, promotion: Promotion): Promise<RegistryEvent> {
  const event = promoteEvent(promotion);
  await recordEvents(store, [event]);
  return event;
}
