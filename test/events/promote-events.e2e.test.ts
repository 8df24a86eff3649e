/**
 * Events of a lifecycle: with environments `test` and `prod` and an event endpoint, a collector
 * started here receives the push to test, the promotion to prod (same digest, the environments
 * in `x-raas.promotion`) and the demotion from prod (a delete), in the reference registry's
 * envelope, each under one stable id. Real processes: `raas setup` starts both registries, which
 * deliver from the ISV's outbox.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RegistryEvent } from "../../src/events/envelope.js";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { buildDockerArchive } from "../helpers/image-builder.js";

const ISV = "flow";
const ENVS = ["test", "prod"] as const;

type Promoted = RegistryEvent & { "x-raas"?: { promotion?: { from: string; to: string } } };

describe("events of push, promotion and demotion (environments, real processes)", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let collector: Server;
  const received: Promoted[] = [];
  const home = () => join(work, "home", "raas");
  const raas = (...args: string[]) => runCli(args, { cwd: work, env });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-promote-events-"));
    collector = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push(
          ...(JSON.parse(Buffer.concat(chunks).toString("utf8")) as { events: Promoted[] }).events,
        );
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    env = cliEnv(join(work, "home"));
    for (const e of ENVS) await reservePort(home(), `${ISV}.${e}`);
    await writeFile(
      join(work, "raas.cfg"),
      [
        `[${ISV}]`,
        `environments = ${ENVS.join(" ")}`,
        "",
        "[events.collector]",
        `url = http://127.0.0.1:${(collector.address() as AddressInfo).port}/events`,
        "timeout = 2s",
        "backoff = 300ms",
        "",
      ].join("\n"),
    );
    const setup = await raas("setup", ISV);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
  }, 300_000);

  afterAll(async () => {
    for (const e of ENVS) await stopBackgroundServer(home(), `${ISV}.${e}`);
    collector.closeAllConnections();
    await new Promise((resolve) => collector.close(resolve));
    await rm(work, { recursive: true, force: true });
  });

  const waitFor = async (what: string, match: (e: Promoted) => boolean): Promise<Promoted> => {
    const end = Date.now() + 60_000;
    for (;;) {
      const found = received.find(match);
      if (found !== undefined) return found;
      if (Date.now() > end) {
        throw new Error(`no ${what} event; received ${JSON.stringify(received, null, 1)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  it("delivers push, promote and delete events with the digest and the environments", async () => {
    const image = await buildDockerArchive(join(work, "app.tar"), {
      name: "acme/app",
      tag: "1.0",
      layers: 1,
      layerSize: 4096,
    });
    const push = await raas("push", ISV, image.path, "--json");
    expect(push.code, push.stdout + push.stderr).toBe(0);
    const digest = (JSON.parse(push.stdout) as { images: { digest: string }[] }).images[0]?.digest ?? "";
    expect(digest).toMatch(/^sha256:/);

    const promote = await raas("promote", ISV, "acme/app:1.0", "--from", "test", "--to", "prod");
    expect(promote.code, promote.stdout + promote.stderr).toBe(0);
    const demote = await raas("demote", ISV, "acme/app:1.0", "--from", "prod");
    expect(demote.code, demote.stdout + demote.stderr).toBe(0);

    const pushed = await waitFor("push", (e) => e.action === "push" && e.target.tag === "1.0");
    expect(pushed.target).toMatchObject({ repository: "acme/app", digest });
    const promoted = await waitFor("promote", (e) => e.action === "promote");
    expect(promoted.target).toMatchObject({ repository: "acme/app", tag: "1.0", digest });
    expect(promoted["x-raas"]?.promotion).toEqual({ from: "test", to: "prod" });
    const deleted = await waitFor("delete", (e) => e.action === "delete" && e.target.tag === "1.0");
    expect(deleted.target).toMatchObject({ repository: "acme/app", digest });

    // At-least-once with stable ids: whatever was sent twice carries the same id and content.
    const byId = new Map<string, string>();
    for (const e of received) {
      const seen = byId.get(e.id);
      if (seen !== undefined) expect(JSON.stringify(e)).toBe(seen);
      byId.set(e.id, JSON.stringify(e));
    }
  }, 300_000);
});
