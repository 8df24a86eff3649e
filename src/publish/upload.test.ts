import { describe, expect, it } from "vitest";
import { formatBytes, formatRate, mapLimitUntilSent } from "./upload.js";

/** A promise plus the function that settles it, to hold work at a chosen point. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("mapLimitUntilSent", () => {
  it("starts the next item once one has sent everything, before it settles", async () => {
    const events: string[] = [];
    const finish = [gate(), gate(), gate(), gate()];
    const run = mapLimitUntilSent([0, 1, 2, 3], 2, async (i, sent) => {
      events.push(`start ${i}`);
      if (i === 0) sent(); // all bytes on the wire; completing is still ahead
      await finish[i]?.wait;
      events.push(`end ${i}`);
    });
    await tick();
    // 0 gave its turn away at once: 1 and 2 sending, 0 completing.
    expect(events).toEqual(["start 0", "start 1", "start 2"]);
    finish[1]?.open();
    await tick();
    expect(events).toEqual(["start 0", "start 1", "start 2", "end 1", "start 3"]);
    for (const g of finish) g.open();
    await run;
    expect(events.filter((e) => e.startsWith("end")).sort()).toEqual(["end 0", "end 1", "end 2", "end 3"]);
  });

  it("never has more than `limit` items sending at once", async () => {
    let sending = 0;
    let most = 0;
    await mapLimitUntilSent(
      Array.from({ length: 20 }, (_, i) => i),
      3,
      async (i, sent) => {
        sending += 1;
        most = Math.max(most, sending);
        await tick();
        sending -= 1;
        sent();
        if (i % 2 === 0) await tick();
      },
    );
    expect(most).toBe(3);
  });

  it("starts nothing after a failure and rejects once the started items settled", async () => {
    const started: number[] = [];
    const slow = gate();
    let slowSettled = false;
    const run = mapLimitUntilSent([0, 1, 2, 3], 2, async (i) => {
      started.push(i);
      if (i === 0) {
        await slow.wait;
        slowSettled = true;
        return;
      }
      throw new Error(`item ${i} failed`);
    });
    await tick();
    slow.open();
    await expect(run).rejects.toThrow("item 1 failed");
    expect(slowSettled).toBe(true);
    expect(started).toEqual([0, 1]);
  });
});

describe("formatBytes and formatRate", () => {
  it("print whole bytes, then one decimal in a unit that never reads 1024", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(500 / 3)).toBe("167 B");
    expect(formatBytes(1023.6)).toBe("1.0 KiB");
    expect(formatBytes(1024)).toBe("1.0 KiB");
    expect(formatBytes(12.34 * 1024 ** 2)).toBe("12.3 MiB");
    expect(formatBytes(1023.99 * 1024)).toBe("1.0 MiB");
    expect(formatBytes(1024 ** 2 - 1)).toBe("1.0 MiB");
    expect(formatBytes(3 * 1024 ** 5)).toBe("3.0 PiB");
    expect(formatBytes(2 ** 70)).toBe("1048576.0 PiB");
    for (const odd of [NaN, Infinity, -1]) expect(formatBytes(odd)).toBe("? B");
  });

  it("print a rate as a size per second, in the same units and precision as sizes", () => {
    expect(formatRate(500, 3)).toBe("167 B/s");
    expect(formatRate(12.34 * 1024 ** 2, 1)).toBe("12.3 MiB/s");
    expect(formatRate(10 * 1024 ** 3, 4)).toBe(`${formatBytes((10 * 1024 ** 3) / 4)}/s`);
    expect(formatRate(1024 ** 2 - 1, 1)).toBe("1.0 MiB/s");
    // No time has passed (or a clock that went backwards): no rate rather than Infinity.
    for (const seconds of [0, -1, NaN, Infinity]) expect(formatRate(100, seconds)).toBeUndefined();
  });
});
