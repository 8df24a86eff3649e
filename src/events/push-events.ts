/**
 * Push events of `raas push`: one per published tag, like the reference registry's manifest
 * push events, stored in the same outbox as the registry's pull events.
 */
import { userInfo } from "node:os";
import type { BlobStore } from "../storage/types.js";
import { makeEvent, type RegistryEvent } from "./envelope.js";
import { Outbox, producerId } from "./outbox.js";

export interface PublishedImage {
  name: string;
  tags: string[];
  digest: string;
  mediaType: string;
}

export function pushEvents(
  images: PublishedImage[],
  manifestSizes: Map<string, number>,
  registryUrl: string,
  instanceID: string,
): RegistryEvent[] {
  const registryHost = new URL(registryUrl).host;
  let actor: string | undefined;
  try {
    actor = userInfo().username;
  } catch {
    actor = undefined;
  }
  const now = new Date();
  return images.flatMap((image) =>
    image.tags.map((tag) =>
      makeEvent({
        action: "push",
        target: {
          mediaType: image.mediaType,
          size: manifestSizes.get(image.digest) ?? 0,
          digest: image.digest,
          repository: image.name,
          url: `${registryUrl}/v2/${image.name}/manifests/${image.digest}`,
          tag,
        },
        request: { method: "PUT", host: registryHost, useragent: "raas-cli" },
        ...(actor === undefined ? {} : { actor }),
        source: { addr: registryHost, instanceID },
        now,
      }),
    ),
  );
}

/** Store `events` in the ISV's outbox (one batch); the registry delivers them. */
export async function recordEvents(store: BlobStore, events: RegistryEvent[]): Promise<void> {
  const outbox = new Outbox(store, producerId());
  await Promise.all(events.map((e) => outbox.record(e)));
}
