/**
 * sendOver against a real child process whose end of the IPC channel closes: the primary sends
 * to a worker that has just finished its last request and disconnected, before the primary has
 * noticed. Node then fails the write with EPIPE, and a send without a callback reports it as an
 * 'error' event, which, unhandled, ended the primary and every worker with it (and cut the
 * downloads the other worker was still serving on shutdown).
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendOver } from "./cluster.js";

/** Blocks this thread, as a busy primary is: the child's disconnect is not read meanwhile. */
const busyFor = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe("sendOver", () => {
  let dir: string;
  let script: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "raas-channel-"));
    script = join(dir, "leaving.cjs");
    // Says goodbye, closes its end of the channel and stays alive a little (a draining worker).
    await writeFile(script, 'process.send("bye"); process.disconnect(); setTimeout(() => {}, 2000);\n');
    await writeFile(join(dir, "echo.cjs"), 'process.on("message", (m) => process.send(m));\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A child that has closed its end of the channel while this process still thinks it open. */
  async function leavingChild(): Promise<{ child: ChildProcess; errors: unknown[] }> {
    const child = fork(script);
    const errors: unknown[] = [];
    child.on("error", (err) => errors.push(err));
    await new Promise<void>((resolve) => child.once("message", () => resolve()));
    busyFor(300);
    return { child, errors };
  }

  const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

  it("the scenario is real: a plain send to a child that has just left is an 'error' event", async () => {
    const { child, errors } = await leavingChild();
    try {
      expect(child.connected).toBe(true);
      child.send({ raas: "stop" });
      await settle();
      expect(errors.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(["EPIPE"]);
    } finally {
      child.kill();
    }
  });

  it("drops the message and reports it to the caller, with no 'error' event", async () => {
    const { child, errors } = await leavingChild();
    try {
      expect(child.connected).toBe(true);
      let failed = 0;
      sendOver(child, { raas: "prepare", gen: 1 }, () => failed++);
      await settle();
      expect(errors).toEqual([]);
      expect(failed).toBe(1);
    } finally {
      child.kill();
    }
  });

  it("reports a channel already closed the same way, on a later tick", async () => {
    const { child, errors } = await leavingChild();
    try {
      await new Promise<void>((resolve) => (child.connected ? child.once("disconnect", resolve) : resolve()));
      let failed = 0;
      sendOver(child, { raas: "stop" }, () => failed++);
      expect(failed).toBe(0);
      await settle();
      expect(failed).toBe(1);
      sendOver(child, { raas: "notify" }); // no callback: still no 'error' event
      await settle();
      expect(errors).toEqual([]);
    } finally {
      child.kill();
    }
  });

  it("delivers to a child that is there", async () => {
    const child = fork(join(dir, "echo.cjs"), { stdio: ["ignore", "ignore", "ignore", "ipc"] });
    try {
      const echoed = new Promise((resolve) => child.once("message", resolve));
      let failed = 0;
      sendOver(child, { raas: "reload-done", id: 7 }, () => failed++);
      expect(await echoed).toEqual({ raas: "reload-done", id: 7 });
      expect(failed).toBe(0);
    } finally {
      child.kill();
    }
  });
});
