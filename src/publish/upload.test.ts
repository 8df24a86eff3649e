import { describe, expect, it } from "vitest";
import { mapLimitUntilSent } from "./upload.js";

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
