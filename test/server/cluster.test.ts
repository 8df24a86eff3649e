/**
 * The registry on every core (the real bundle, dist/server-bundle/main.js, built by
 * `npm run build`): N workers share the port and answer identically, /metrics adds up every
 * worker's counters, a worker killed with SIGKILL is replaced while the others keep serving,
 * and SIGTERM drains them all. Also: the bundled AWS SDK presigns redirects.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../src/adapters/package-root.js";
import { isAlive } from "../../src/adapters/exec.js";
import { buildImages, publish, rawRequest, type RawResponse } from "../../src/server/testing/fixture.js";
import { WORKER_V8_FLAGS } from "../../src/server/workers.js";
import { makeRaasApp, type RaasApp } from "./raas-app.js";

const MAIN = join(packageRoot(), "dist", "server-bundle", "main.js");

type Event = { event: string; [key: string]: unknown };

class Server {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;

  constructor(configPath: string, env: Record<string, string>) {
    this.child = spawn(
      process.execPath,
      [MAIN, "--config", configPath, "--host", "127.0.0.1", "--port", "0"],
      {
        env: { PATH: process.env.PATH ?? "", ...env },
      },
    );
    this.child.stdout.on("data", (c: Buffer) => (this.stdout += c.toString()));
    this.child.stderr.on("data", (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
  }

  events(): Event[] {
    return this.stdout
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Event);
  }

  async waitFor(what: string, match: (e: Event) => boolean, timeoutMs = 20_000): Promise<Event> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events().find(match);
      if (found !== undefined) return found;
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`no ${what}; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      }
      await sleep(25);
    }
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

/** Status, headers without Date, body: what must not depend on the worker that answered. */
const comparable = (res: RawResponse) => {
  const { date: _date, ...headers } = res.headers;
  return { status: res.status, headers, body: res.body.toString("base64") };
};

describe.runIf(existsSync(MAIN))("the registry with several workers (real process)", () => {
  let app: RaasApp;
  let server: Server;
  let url: string;
  const pids = () =>
    server
      .events()
      .filter((e) => e.event === "worker" && e.state === "listening")
      .map((e) => e.pid as number);

  beforeAll(async () => {
    app = await makeRaasApp();
    server = new Server(app.repo.configPath, { RAAS_WORKERS: "2" });
    const listening = await server.waitFor("listening line", (e) => e.event === "listening");
    expect(listening.workers).toBe(2);
    url = listening.url as string;
  });
  afterAll(async () => {
    server.stop();
    await app.repo.cleanup();
  });

  const manifest = (probe: string) =>
    rawRequest(url, "GET", `/v2/acme/app/manifests/latest?probe=${probe}`, { Connection: "close" });
  /** Which worker answered the request with this probe, from its access-log line. */
  const workerOf = async (probe: string) =>
    (
      await server.waitFor(
        `access log of ${probe}`,
        (e) => e.path === `/v2/acme/app/manifests/latest?probe=${probe}`,
      )
    ).worker as number;

  it("serves identical answers from every worker, and /metrics counts them all", async () => {
    expect(new Set(pids()).size).toBe(2);
    const answers = [];
    for (let i = 0; i < 24; i++) answers.push(await manifest(`same-${i}`));
    expect(answers[0]?.status).toBe(200);
    const workers = new Set<number>();
    for (let i = 0; i < answers.length; i++) {
      expect(comparable(answers[i] as RawResponse)).toEqual(comparable(answers[0] as RawResponse));
      workers.add(await workerOf(`same-${i}`));
    }
    expect([...workers].sort()).toEqual([...pids()].sort());

    const metrics = (await rawRequest(url, "GET", "/metrics")).body.toString();
    expect(metrics).toContain('raas_registry_requests_total{route="v2_manifest",status="200"} 24\n');
    expect(metrics).toContain(
      'raas_registry_manifest_pulls_total{repository="acme/app",reference="latest"} 24\n',
    );
  });

  it.runIf(existsSync("/proc/self/cmdline"))(
    "starts its workers, not the primary, with the young-generation settings",
    async () => {
      const argsOf = async (pid: number) => (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
      for (const pid of pids()) {
        expect(await argsOf(pid)).toEqual(expect.arrayContaining([...WORKER_V8_FLAGS]));
      }
      const primary = await argsOf(server.child.pid ?? 0);
      for (const flag of WORKER_V8_FLAGS) expect(primary).not.toContain(flag);
    },
  );

  // A metadata poll may load files the fixture is still writing: every worker must then still
  // switch to one state, never to different ones (snapshot.ts names each load by what it saw).
  it("switches every worker to new metadata together (SIGHUP): no worker lags behind", async () => {
    const fresh = buildImages("acme/fresh", "acme-fresh", "fresh");
    await publish(app.repo, "acme-acme-fresh.json", fresh);
    server.child.kill("SIGHUP");
    const path = "/v2/acme/fresh/manifests/latest";
    const deadline = Date.now() + 20_000;
    while ((await rawRequest(url, "GET", path, { Connection: "close" })).status !== 200) {
      if (Date.now() > deadline) throw new Error(`never served ${path}:\n${server.stdout}`);
      await sleep(10);
    }
    // From the first 200 on, every worker answers, on new connections spread over all of them.
    const [digest] = [...fresh.blobBytes.keys()];
    for (let i = 0; i < 16; i++) {
      expect((await rawRequest(url, "GET", path, { Connection: "close" })).status).toBe(200);
      expect(
        (await rawRequest(url, "HEAD", `/v2/acme/fresh/blobs/${digest}`, { Connection: "close" })).status,
      ).toBe(200);
    }
  });

  it("replaces a worker killed with SIGKILL while the other keeps serving", async () => {
    const [victim, survivor] = pids();
    if (victim === undefined || survivor === undefined) throw new Error("expected two workers");
    process.kill(victim, "SIGKILL");
    await server.waitFor("the exit of the killed worker", (e) => e.pid === victim && e.level === "error");
    for (let i = 0; i < 10; i++) {
      const res = await manifest(`after-kill-${i}`);
      expect(res.status).toBe(200);
    }
    const replacement = await server.waitFor(
      "a replacement worker",
      (e) => e.event === "worker" && e.state === "listening" && e.pid !== victim && e.pid !== survivor,
    );
    expect(isAlive(victim)).toBe(false);
    // The replacement takes its share of new connections.
    const served = new Set<number>();
    for (let i = 0; i < 12 && !served.has(replacement.pid as number); i++) {
      expect((await manifest(`replaced-${i}`)).status).toBe(200);
      served.add(await workerOf(`replaced-${i}`));
    }
    expect(served).toContain(replacement.pid);
  });

  it("stops every worker on SIGTERM and exits 0", async () => {
    const live = pids().filter((pid) => isAlive(pid));
    expect(live.length).toBe(2);
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    for (const pid of live) expect(isAlive(pid)).toBe(false);
    expect(server.events().filter((e) => e.event === "shutdown" && e.signal === "primary")).toHaveLength(2);
  });
});

describe.runIf(existsSync(MAIN))("the bundled server (real process)", () => {
  it("presigns storage redirects with the AWS SDK inside the bundle", async () => {
    const app = await makeRaasApp();
    try {
      await writeFile(
        app.repo.configPath,
        "[general]\ndata_dir: data\n[serve_content]\nenable: false\n[raas]\nmanifest_dir = manifests\n" +
          "[storage]\nkind = s3\nbucket = raas-test\nendpoint = http://127.0.0.1:9\nregion = us-east-1\n" +
          "force_path_style = true\nredirect = presigned\n",
      );
      const server = new Server(app.repo.configPath, {
        RAAS_WORKERS: "1",
        AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY: "secret-example",
      });
      try {
        const { url } = (await server.waitFor("listening line", (e) => e.event === "listening")) as Event & {
          url: string;
        };
        const [digest] = [...app.acme.blobBytes.keys()];
        const res = await rawRequest(url, "GET", `/v2/acme/app/blobs/${digest}`);
        expect(res.status).toBe(307);
        const location = new URL(String(res.headers.location));
        expect(`${location.origin}${decodeURIComponent(location.pathname)}`).toBe(
          `http://127.0.0.1:9/raas-test/acme-app/blobs/${digest}`,
        );
        expect(location.searchParams.get("X-Amz-Credential")).toMatch(/^AKIDEXAMPLE\//);
        expect(location.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
        // One worker: no cluster primary, the process itself serves.
        expect(server.events().some((e) => e.event === "worker")).toBe(false);
      } finally {
        server.stop();
      }
    } finally {
      await app.repo.cleanup();
    }
  });
});
