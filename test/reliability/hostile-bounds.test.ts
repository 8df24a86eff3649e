/**
 * Inputs whose cost grew faster than their size (long v1 parent chains, an index repeating one
 * manifest, a manifest.json repeating one entry, thousands of names), JSON nested 20,000
 * levels deep in every document a reader parses, and terminal escape sequences in names:
 * each is refused with a clear error naming the file, or published, within asserted bounds
 * on wall time, memory growth and bytes written to storage. Through the CLI, in process,
 * on the embedded default (local storage, local app remote).
 */
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boundedBlowups, refusedBlowups } from "../fixtures/hostile-blowups.js";
import { gzipBombBytes } from "../fixtures/generate-hostile.js";
import { runCli } from "../helpers/cli.js";
import { buildV1Chain, writePulpExport } from "../helpers/pulp-builder.js";
import { setUpRefusalIsv, type RefusalIsv } from "../helpers/refusal-isv.js";

const ISV = "bounds";

async function storedBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir, { recursive: true }).catch(() => [])) {
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info?.isFile() === true) total += info.size;
  }
  return total;
}

/** Runs fn while sampling this process's RSS; returns the peak growth and the wall time. */
async function measured<T>(fn: () => Promise<T>): Promise<{ value: T; rss: number; ms: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const started = Date.now();
  try {
    const value = await fn();
    return { value, rss: peak - before, ms: Date.now() - started };
  } finally {
    clearInterval(sampler);
  }
}

describe("hostile inputs stay within bounds", () => {
  let isv: RefusalIsv;
  beforeAll(async () => {
    isv = await setUpRefusalIsv(ISV);
  }, 60_000);
  afterAll(() => isv.remove());

  it.each(refusedBlowups.map((c) => [c.label, c] as const))(
    "refuses %s quickly, in little memory, writing nothing",
    async (_label, hostile) => {
      const dir = await mkdtemp(join(tmpdir(), "raas-bounds-case-"));
      try {
        const input = await hostile.build(dir);
        const before = isv.head();
        const bytesBefore = await storedBytes(isv.storage);
        const {
          value: run,
          rss,
          ms,
        } = await measured(() =>
          isv.raas("push", ISV, input, "--name", "acme/app", "--tag", "1", "--no-wait"),
        );
        expect(run.code, run.stdout + run.stderr).toBe(1);
        expect(run.stderr).toContain(input);
        expect(run.stderr).toMatch(hostile.expect);
        expect(run.stderr).not.toMatch(/internal error|Maximum call stack/);
        // No control character from the input reaches the terminal.
        expect([...(run.stderr + run.stdout)].filter((c) => c < " " && c !== "\n" && c !== "\t")).toEqual([]);
        expect(ms).toBeLessThan(10_000);
        expect(rss).toBeLessThan(256 * 1024 * 1024);
        expect(await storedBytes(isv.storage)).toBe(bytesBefore);
        expect(isv.head()).toBe(before);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );

  it("stops inflating a v1 layer at [raas] max_inflated_layer, with a clear error", async () => {
    const dir = await mkdtemp(join(tmpdir(), "raas-bounds-inflate-"));
    try {
      const [image] = await buildV1Chain(["bomb"]);
      if (image === undefined) throw new Error("no image built");
      const bomb = { ...image, layer: await gzipBombBytes(256 * 1024 * 1024) };
      const input = join(dir, "export.tar");
      await writePulpExport(input, {
        repoId: "acme-bomb",
        registryId: "acme/bomb",
        images: [bomb],
        tags: { "1": bomb.id },
      });
      await writeFile(join(dir, "raas.cfg"), "[raas]\nmax_inflated_layer = 16MiB\n");
      const before = isv.head();
      const bytesBefore = await storedBytes(isv.storage);
      const { value: run, ms } = await measured(() =>
        runCli(["push", ISV, input, "--no-wait"], { cwd: dir, env: isv.env }),
      );
      expect(run.code, run.stdout + run.stderr).toBe(1);
      expect(run.stderr).toMatch(
        /export\.tar:web\/[a-f0-9]{64}\/layer: layer inflates to more than 16777216 bytes/,
      );
      expect(run.stderr).toMatch(/hint: .*max_inflated_layer/);
      // Stopped at the limit: far from inflating all 256 MiB.
      expect(ms).toBeLessThan(10_000);
      expect(await storedBytes(isv.storage)).toBe(bytesBefore);
      expect(isv.head()).toBe(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it.each(boundedBlowups.map((c) => [c.label, c] as const))(
    "publishes %s within its bounds",
    async (_label, bounded) => {
      const dir = await mkdtemp(join(tmpdir(), "raas-bounds-ok-"));
      try {
        const input = await bounded.build(dir);
        const inputBytes = (await stat(input)).isFile() ? (await stat(input)).size : 0;
        const bytesBefore = await storedBytes(isv.storage);
        const {
          value: run,
          rss,
          ms,
        } = await measured(() =>
          isv.raas("push", ISV, input, "--name", "acme/app", "--tag", "1", "--no-wait", "--json"),
        );
        expect(run.code, run.stdout + run.stderr).toBe(0);
        expect(ms).toBeLessThan(bounded.maxMs);
        expect(rss).toBeLessThan(bounded.maxRss);
        // Each blob and manifest is stored once: storage grows by less than the input (plus sidecars).
        const written = (await storedBytes(isv.storage)) - bytesBefore;
        expect(written).toBeLessThan(inputBytes + 1024 * 1024);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
