/**
 * The event envelope of the reference registry's notifications (distribution
 * docs/notifications.md, "Envelope"): a POST body `{"events": [...]}` with the media type below.
 * Field names follow that document exactly, so a collector written for it reads raas's events.
 */
import { randomUUID } from "node:crypto";

export const EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v2+json";

export type EventAction = "push" | "pull" | "delete" | "promote" | "mount";

export interface EventTarget {
  mediaType: string;
  size: number;
  digest: string;
  /** Same as size (the reference registry keeps both for older consumers). */
  length: number;
  repository: string;
  url: string;
  tag?: string;
  /** A cross-repository mount: the repository the blob was mounted from (reference registry). */
  fromRepository?: string;
}

/**
 * raas's extension of an event (absent on every action but `promote`): a collector written for
 * the reference registry ignores fields it does not know.
 */
export interface RaasEventExtension {
  /** `promote`: the environment the image came from and the one it went to. */
  promotion?: { from: string; to: string };
}

export interface RegistryEvent {
  /** Stable across every delivery attempt: consumers deduplicate on it. */
  id: string;
  timestamp: string;
  action: EventAction;
  target: EventTarget;
  request: { id: string; addr: string; host: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr: string; instanceID: string };
  "x-raas"?: RaasEventExtension;
}

export interface Envelope {
  events: RegistryEvent[];
}

export interface EventInput {
  action: EventAction;
  target: Omit<EventTarget, "length">;
  request?: Partial<RegistryEvent["request"]>;
  actor?: string;
  source: RegistryEvent["source"];
  /** When it happened (a Date, or milliseconds since the epoch); default now. */
  now?: Date | number;
  extension?: RaasEventExtension;
}

/** The most of a user agent an event keeps (a header can be 16 KiB). */
export const USERAGENT_MAX = 256;
/**
 * The most of a Host header an event keeps: a DNS name is at most 253 characters, and a port
 * adds 6 (RFC 1035 2.3.4); a longer Host is no name a registry answers to.
 */
export const HOST_MAX = 259;

let isoMs = NaN;
let isoText = "";

/**
 * The ISO 8601 form of a time. The last one is remembered: a window of pull events, made
 * together, has tens of events in the same millisecond.
 */
function isoTime(now: Date | number | undefined): string {
  const ms = now === undefined ? Date.now() : typeof now === "number" ? now : now.getTime();
  if (ms !== isoMs) {
    isoText = new Date(ms).toISOString();
    isoMs = ms;
  }
  return isoText;
}

/** A new event with a fresh id (the id is fixed here, before the event is first stored). */
export function makeEvent(input: EventInput): RegistryEvent {
  const { target } = input;
  return {
    id: randomUUID(),
    timestamp: isoTime(input.now),
    action: input.action,
    target: {
      mediaType: target.mediaType,
      size: target.size,
      digest: target.digest,
      length: target.size,
      repository: target.repository,
      url: target.url,
      ...(target.tag === undefined ? {} : { tag: target.tag }),
      ...(target.fromRepository === undefined ? {} : { fromRepository: target.fromRepository }),
    },
    request: {
      id: input.request?.id ?? randomUUID(),
      addr: input.request?.addr ?? "",
      host: (input.request?.host ?? "").slice(0, HOST_MAX),
      method: input.request?.method ?? "",
      useragent: (input.request?.useragent ?? "").slice(0, USERAGENT_MAX),
    },
    actor: input.actor === undefined ? {} : { name: input.actor },
    source: input.source,
    ...(input.extension === undefined ? {} : { "x-raas": input.extension }),
  };
}

/** Parse a stored outbox object; throws on anything that is not an envelope. */
export function parseEnvelope(bytes: Buffer, where: string): Envelope {
  const value: unknown = JSON.parse(bytes.toString("utf8"));
  if (
    typeof value !== "object" ||
    value === null ||
    !Array.isArray((value as { events?: unknown }).events) ||
    !(value as Envelope).events.every((e) => typeof e?.id === "string" && typeof e.action === "string")
  ) {
    throw new Error(`${where}: not an event envelope`);
  }
  return value as Envelope;
}
