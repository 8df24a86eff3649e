import { describe, expect, it } from "vitest";
import type { AccessRecord } from "./app.js";
import { lineLog, requestLine } from "./log-lines.js";

const record = (path: string, extra: Partial<AccessRecord> = {}): AccessRecord => ({
  event: "request",
  method: "GET",
  path,
  route: "v2_manifest",
  status: 200,
  ms: 0.125,
  bytes: 588,
  remote: "::ffff:127.0.0.1",
  ...extra,
});

describe("access-log lines", () => {
  it("are exactly what JSON.stringify writes, for hostile paths too", () => {
    const time = "2026-01-02T03:04:05.678Z";
    const paths = [
      "/v2/acme/app/manifests/latest",
      '/v2/"quoted"\\back\\slash',
      "/\u0000\u001b[2J\u007f\n\r\t",
      "/\u2028\u2029é漢字",
      "/\ud800lone-surrogate\udfff",
      "x".repeat(512),
    ];
    for (const path of paths) {
      for (const [extra, suffix] of [
        [{}, ""],
        [{ worker: 4242 }, ',"worker":4242'],
      ] as const) {
        const r = record(path, { method: 'M"ETHOD', remote: "" });
        expect(requestLine(time, r, suffix)).toBe(`${JSON.stringify({ time, ...r, ...extra })}\n`);
      }
    }
    const odd = record("/", { ms: Number.NaN, status: 404, bytes: 0 });
    expect(requestLine(time, odd, "")).toBe(`${JSON.stringify({ time, ...odd })}\n`);
  });

  it("are written in writes of at most 4096 bytes that end at a line end, in order", async () => {
    const writes: Buffer[] = [];
    const out = lineLog((chunk) => writes.push(Buffer.from(chunk)), { worker: 7 });
    for (let i = 0; i < 300; i++) out.request(record(`/v2/acme/app/manifests/t${i}-${"p".repeat(i % 97)}`));
    out.log({ event: "reload", files: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    out.flush();
    expect(writes.length).toBeGreaterThan(1);
    for (const chunk of writes) {
      expect(chunk.length).toBeLessThanOrEqual(4096);
      expect(chunk.at(-1)).toBe(0x0a);
    }
    const lines = Buffer.concat(writes)
      .toString()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(301);
    expect(lines[0]).toMatchObject({ event: "request", path: "/v2/acme/app/manifests/t0-", worker: 7 });
    expect(lines[300]).toMatchObject({ event: "reload", files: 1, worker: 7 });
    expect(lines.map((l) => l.path).slice(0, 300)).toEqual(
      Array.from({ length: 300 }, (_, i) => `/v2/acme/app/manifests/t${i}-${"p".repeat(i % 97)}`),
    );
  });

  it("cut writes by bytes, not characters, and write a line longer than 4096 bytes alone", async () => {
    const writes: Buffer[] = [];
    const out = lineLog((chunk) => writes.push(Buffer.from(chunk)));
    // Three bytes per character in UTF-8: 100 such lines are far more bytes than characters.
    const paths = Array.from({ length: 100 }, (_, i) => `/v2/漢字/${"字".repeat(i)}`);
    for (const path of paths.slice(0, 50)) out.request(record(path));
    out.log({ event: "metadata", message: "m".repeat(5000) });
    for (const path of paths.slice(50)) out.request(record(path));
    await new Promise((resolve) => setImmediate(resolve));
    const long = writes.filter((chunk) => chunk.length > 4096);
    expect(long).toHaveLength(1);
    expect(long[0]?.toString()).toMatch(/^\{"time":"[^"]+","event":"metadata","message":"m{5000}"\}\n$/);
    for (const chunk of writes) expect(chunk.at(-1)).toBe(0x0a);
    const lines = Buffer.concat(writes)
      .toString()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.event === "request").map((l) => l.path)).toEqual(paths);
  });
});
