import { describe, expect, it } from "vitest";
import { HOST_MAX, makeEvent, parseEnvelope, USERAGENT_MAX, type EventInput } from "./envelope.js";
import { utf8Bytes } from "./outbox.js";

/** Strings that JSON escapes, or that UTF-8 encodes in more than one byte. */
const TEXTS = [
  "",
  "plain ascii {}",
  'quote " and backslash \\',
  "control \u0000\u0001\b\f\n\r\t\u001f and DEL \u007f",
  "Latin-1 é ß ÿ \u0080 \u00ff",
  "BMP ☃ 中文 \u2028\u2029",
  "astral 🐳 pair",
  "lone high \ud800 and lone low \udc00",
];

const input = (now?: Date | number): EventInput => ({
  action: "pull",
  target: { mediaType: "m", size: 1, digest: `sha256:${"a".repeat(64)}`, repository: "r", url: "/u" },
  source: { addr: "", instanceID: "x" },
  ...(now === undefined ? {} : { now }),
});

describe("makeEvent's timestamp", () => {
  it("is the ISO time of a Date or of milliseconds, for each event, however they alternate", () => {
    const times = [
      1_000,
      1_000,
      2_000,
      new Date(2_000),
      new Date(3_000),
      1_000,
      Date.UTC(2026, 11, 1, 6, 30),
    ];
    expect(times.map((t) => makeEvent(input(t)).timestamp)).toEqual([
      "1970-01-01T00:00:01.000Z",
      "1970-01-01T00:00:01.000Z",
      "1970-01-01T00:00:02.000Z",
      "1970-01-01T00:00:02.000Z",
      "1970-01-01T00:00:03.000Z",
      "1970-01-01T00:00:01.000Z",
      "2026-12-01T06:30:00.000Z",
    ]);
  });

  it("is now when no time is given", () => {
    const before = Date.now();
    const at = Date.parse(makeEvent(input()).timestamp);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
  });
});

describe("utf8Bytes", () => {
  it("gives the UTF-8 bytes of every text, on the ASCII fast path and off it", () => {
    for (const text of [...TEXTS, TEXTS.join(""), "x".repeat(300_000) + "é"]) {
      expect(utf8Bytes(text).equals(Buffer.from(text, "utf8"))).toBe(true);
    }
  });

  it("stores an envelope with any text as JSON that parses back to the same events", () => {
    const events = TEXTS.map((text) =>
      makeEvent({ ...input(1_000), target: { ...input().target, repository: text, tag: text } }),
    );
    const parsed = parseEnvelope(utf8Bytes(JSON.stringify({ events })), "batch");
    expect(parsed.events).toEqual(JSON.parse(JSON.stringify(events)));
  });
});

describe("makeEvent's request", () => {
  it("keeps at most HOST_MAX characters of the Host and USERAGENT_MAX of the user agent a client sent", () => {
    const host = `${"a".repeat(250)}.example:5000${"x".repeat(16_000)}`;
    const useragent = `curl/8 ${"u".repeat(16_000)}`;
    const e = makeEvent({ ...input(), request: { host, useragent } });
    expect(e.request.host).toBe(host.slice(0, HOST_MAX));
    expect(e.request.useragent).toBe(useragent.slice(0, USERAGENT_MAX));
    // A real name and port are kept whole.
    const real = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}:65535`;
    expect(real.length).toBe(HOST_MAX);
    expect(makeEvent({ ...input(), request: { host: real } }).request.host).toBe(real);
  });
});
