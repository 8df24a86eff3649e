/**
 * Events and pull statistics end to end, with real processes: `raas setup` starts the registry
 * (several workers), `raas push` publishes, a collector started here receives the events; then
 * the collector is down while pushes and pulls go on and the registry restarts before it comes
 * back; then two more registry processes on the same storage count 200 concurrent pulls. All of
 * it on both backends the registry records into: local storage and S3 (s3rver on loopback).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RegistryEvent } from "../../src/events/envelope.js";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { buildDockerArchive } from "../helpers/image-builder.js";
import { s3RaasConfig, startS3rver, type RunningS3rver } from "../helpers/s3rver.js";

const ISV = "demo";
const MANIFEST_ACCEPT =
  "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

interface Collector {
  server: Server;
  port: number;
  posts: { contentType: string; auth: string; events: RegistryEvent[] }[];
}

async function startCollector(port = 0): Promise<Collector> {
  const posts: Collector["posts"] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { events: RegistryEvent[] };
      posts.push({
        contentType: req.headers["content-type"] ?? "",
        auth: req.headers.authorization ?? "",
        events: body.events,
      });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, posts };
}

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const BUCKET = "events-images";

for (const kind of ["local", "s3"] as const) {
  describe(`events and pull statistics (local platform, real processes, ${kind === "s3" ? "S3 on loopback" : "local storage"})`, () => {
    let work: string;
    let s3: RunningS3rver | undefined;
    let env: NodeJS.ProcessEnv;
    let collector: Collector;
    let registry: string;
    const raas = (...args: string[]) => runCli(args, { cwd: work, env });
    const home = () => join(work, "home", "raas");

    const push = async (tag: string) => {
      const image = await buildDockerArchive(join(work, `app-${tag}.tar`), {
        name: "acme/app",
        tag,
        layers: 1,
        layerSize: 2000 + tag.length,
      });
      const run = await raas("push", ISV, image.path, "--json");
      expect(run.code, run.stdout + run.stderr).toBe(0);
      return JSON.parse(run.stdout) as { images: { digest: string; tags: string[] }[] };
    };
    const get = (base: string, path: string, method = "GET") =>
      fetch(`${base}${path}`, { method, headers: { Accept: MANIFEST_ACCEPT }, redirect: "manual" }).then(
        async (r) => {
          await r.arrayBuffer();
          return r.status;
        },
      );
    const received = () => collector.posts.flatMap((p) => p.events);
    /** The outbox batches in storage (a batch delivered to every endpoint is deleted). */
    const outboxBatches = async (): Promise<string[]> => {
      if (s3 === undefined) {
        const dir = join(home(), ISV, "storage", ".raas", "events", "outbox");
        return readdir(dir).catch((err: NodeJS.ErrnoException) => {
          if (err.code === "ENOENT") return [];
          throw err;
        });
      }
      const xml = await (
        await fetch(`${s3.endpoint}/${BUCKET}?list-type=2&prefix=.raas/events/outbox/`)
      ).text();
      return [...xml.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1] ?? "");
    };

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), "raas-events-"));
      collector = await startCollector();
      env = cliEnv(join(work, "home"), { COLLECTOR_TOKEN: "s3cret-token" });
      // The local platform starts the registry with variables of raas's own process environment.
      process.env.COLLECTOR_TOKEN = "s3cret-token";
      const port = await reservePort(home(), ISV);
      registry = `http://127.0.0.1:${port}`;
      if (kind === "s3") s3 = await startS3rver({ buckets: [BUCKET] });
      const storage =
        s3 === undefined
          ? ""
          : s3RaasConfig({ endpoint: s3.endpoint, credentials: s3.credentials, isv: ISV, bucket: BUCKET });
      await writeFile(
        join(work, "raas.cfg"),
        storage +
          [
            "[events.collector]",
            `url = http://127.0.0.1:${collector.port}/events`,
            "header.Authorization = Bearer ${COLLECTOR_TOKEN}",
            "timeout = 2s",
            "threshold = 2",
            "backoff = 300ms",
            "",
          ].join("\n"),
      );
      const setup = await raas("setup", ISV);
      expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    }, 120_000);

    afterAll(async () => {
      await stopBackgroundServer(home(), ISV);
      await close(collector.server);
      await s3?.stop();
      await rm(work, { recursive: true, force: true });
      delete process.env.COLLECTOR_TOKEN;
    });

    it("delivers every push and pull event in the reference registry's envelope", async () => {
      const pushed = await push("1.0");
      const digest = pushed.images[0]?.digest ?? "";
      await until("the tag to be served", async () =>
        (await get(registry, "/v2/acme/app/manifests/1.0")) === 200 ? true : undefined,
      );
      // 1 GET above + 4 GETs (tag and digest); HEADs and blob requests are not pulls.
      for (let i = 0; i < 3; i++) expect(await get(registry, "/v2/acme/app/manifests/1.0")).toBe(200);
      expect(await get(registry, `/v2/acme/app/manifests/${digest}`)).toBe(200);
      expect(await get(registry, "/v2/acme/app/manifests/1.0", "HEAD")).toBe(200);
      const events = await until("1 push and 5 pull events", () => {
        const all = received();
        return all.filter((e) => e.action === "pull").length >= 5 && all.some((e) => e.action === "push")
          ? all
          : undefined;
      });
      const pulls = events.filter((e) => e.action === "pull");
      expect(pulls).toHaveLength(5);
      expect(pulls.filter((e) => e.target.tag === "1.0")).toHaveLength(4);
      const pushEvent = events.find((e) => e.action === "push");
      expect(pushEvent?.target).toMatchObject({ repository: "acme/app", tag: "1.0", digest });
      for (const e of events) {
        expect(Object.keys(e).sort()).toEqual([
          "action",
          "actor",
          "id",
          "request",
          "source",
          "target",
          "timestamp",
        ]);
        expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(Number.isNaN(Date.parse(e.timestamp))).toBe(false);
        expect(e.target).toMatchObject({ repository: "acme/app", digest });
        expect(e.target.size).toBeGreaterThan(0);
        expect(e.target.length).toBe(e.target.size);
        expect(typeof e.target.mediaType).toBe("string");
        expect(Object.keys(e.request).sort()).toEqual(["addr", "host", "id", "method", "useragent"]);
        expect(Object.keys(e.source).sort()).toEqual(["addr", "instanceID"]);
      }
      expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
      for (const post of collector.posts) {
        expect(post.contentType).toBe("application/vnd.docker.distribution.events.v2+json");
        expect(post.auth).toBe("Bearer s3cret-token");
      }
      // Delivered to the only endpoint, every batch is deleted from the outbox.
      await until("the outbox to be emptied", async () =>
        (await outboxBatches()).length === 0 ? true : undefined,
      );
      // The committed registry.conf names the variable, never its value.
      const conf = await readFile(join(home(), ISV, "deploy", "registry.conf"), "utf8");
      expect(conf).toContain("header.authorization = Bearer ${COLLECTOR_TOKEN}");
      expect(conf).not.toContain("s3cret-token");
    }, 120_000);

    it("loses nothing while the endpoint is down and the registry restarts, and sends no event under two ids", async () => {
      const before = received().length;
      const port = collector.port;
      await close(collector.server);
      collector.posts.length = 0;

      const pushed = await push("2.0");
      await until("2.0 to be served", async () =>
        (await get(registry, "/v2/acme/app/manifests/2.0")) === 200 ? true : undefined,
      );
      for (let i = 0; i < 5; i++) expect(await get(registry, "/v2/acme/app/manifests/2.0")).toBe(200);
      const waiting = await until("the status to show a backlog", async () => {
        const run = await raas("status", ISV, "--json");
        const report = JSON.parse(run.stdout) as { checks: { name: string; detail: string }[] };
        const check = report.checks.find((c) => c.name === "events collector");
        return check !== undefined && !check.detail.includes("backlog 0") ? check : undefined;
      });
      expect(waiting.detail).toMatch(/batch/);
      // The gauges are the deliverer's view after its next pass (once a second); status reads storage.
      const metrics = await until("the metrics to show the backlog and a failure", async () => {
        const text = await (await fetch(`${registry}/metrics`)).text();
        return /raas_events_backlog\{endpoint="collector"\} [1-9]/.test(text) &&
          /raas_events_failures_total\{endpoint="collector"\} [1-9]/.test(text)
          ? text
          : undefined;
      });
      expect(metrics).toMatch(/raas_events_backlog\{endpoint="collector"\} [1-9]/);

      // Restart the registry (SIGTERM: events already stored stay stored), then the collector returns.
      await stopBackgroundServer(home(), ISV);
      await until("the registry to stop", async () =>
        (await get(registry, "/v2/").catch(() => 0)) === 0 ? true : undefined,
      );
      const restarted = await raas("setup", ISV);
      expect(restarted.code, restarted.stdout + restarted.stderr).toBe(0);
      collector = await startCollector(port);

      const events = await until("6 pull events and 1 push event after the restart", () => {
        const all = received();
        const ids = new Set(all.map((e) => e.id));
        const unique = [...ids].map((id) => all.find((e) => e.id === id)!);
        return unique.filter((e) => e.action === "pull" && e.target.tag === "2.0").length >= 6 &&
          unique.some((e) => e.action === "push" && e.target.tag === "2.0")
          ? unique
          : undefined;
      });
      // Exactly the events of this phase: every pull once (a redelivery would repeat an id, not add one).
      expect(events.filter((e) => e.action === "pull" && e.target.tag === "2.0")).toHaveLength(6);
      expect(events.filter((e) => e.action === "push")).toEqual([
        expect.objectContaining({
          target: expect.objectContaining({ tag: "2.0", digest: pushed.images[0]?.digest }),
        }),
      ]);
      expect(before).toBeGreaterThan(0);
    }, 180_000);

    it("counts exactly the manifest GETs made across two registry processes on one storage", async () => {
      await stopBackgroundServer(home(), ISV);
      await until("the registry to stop", async () =>
        (await get(registry, "/v2/").catch(() => 0)) === 0 ? true : undefined,
      );
      const statsOf = async () => {
        const run = await raas("stats", ISV, "acme/app", "--json");
        expect(run.code, run.stdout + run.stderr).toBe(0);
        const result = JSON.parse(run.stdout) as { totals: { tag: string; pulls: number }[] };
        return new Map(result.totals.map((t) => [t.tag, t.pulls]));
      };
      const baseline = await statsOf();
      expect(baseline.get("1.0")).toBe(4);

      const conf = join(home(), ISV, "deploy", "registry.conf");
      const children: ChildProcess[] = [];
      const bases: string[] = [];
      for (let i = 0; i < 2; i++) {
        const child = spawn(
          process.execPath,
          [join(process.cwd(), "dist/server-bundle/main.js"), "--config", conf, "--port", "0"],
          {
            env: {
              PATH: process.env.PATH,
              RAAS_WORKERS: "1",
              COLLECTOR_TOKEN: "x",
              ...(s3 === undefined
                ? {}
                : {
                    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
                    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
                  }),
            },
            stdio: ["ignore", "pipe", "inherit"],
          },
        );
        children.push(child);
        bases.push(
          await new Promise<string>((resolve, reject) => {
            let text = "";
            child.stdout?.on("data", (c: Buffer) => {
              text += c.toString();
              const m = /"url":"(http:\/\/[^"]+)"/.exec(text);
              if (m?.[1] !== undefined) resolve(m[1]);
            });
            child.once("exit", (code) => reject(new Error(`registry exited ${code}`)));
          }),
        );
      }
      const manifest = await fetch(`${bases[0]}/v2/acme/app/manifests/1.0`, {
        headers: { Accept: MANIFEST_ACCEPT },
      });
      const layer = (JSON.parse(await manifest.text()) as { layers: { digest: string }[] }).layers[0]?.digest;
      const requests: Promise<number>[] = [];
      const expected = new Map([
        ["1.0", 1],
        ["2.0", 0],
      ]);
      for (let i = 0; i < 200; i++) {
        const tag = i % 3 === 0 ? "2.0" : "1.0";
        expected.set(tag, (expected.get(tag) ?? 0) + 1);
        requests.push(get(bases[i % 2] ?? "", `/v2/acme/app/manifests/${tag}`));
        if (i % 10 === 0) {
          requests.push(get(bases[(i + 1) % 2] ?? "", `/v2/acme/app/manifests/${tag}`, "HEAD"));
        }
        // A blob is served from local storage, and redirected to on S3.
        if (i % 10 === 5) {
          requests.push(
            get(bases[i % 2] ?? "", `/v2/acme/app/blobs/${layer}`).then((status) =>
              status === (s3 === undefined ? 200 : 307) ? 200 : status,
            ),
          );
        }
      }
      const statuses = await Promise.all(requests);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      // SIGTERM: each process writes its last counts before it exits.
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              child.once("exit", () => resolve());
              child.kill("SIGTERM");
            }),
        ),
      );
      const after = await statsOf();
      for (const [tag, n] of expected) {
        expect([tag, (after.get(tag) ?? 0) - (baseline.get(tag) ?? 0)]).toEqual([tag, n]);
      }

      // The same numbers through the registry, for the web page.
      const restarted = await raas("setup", ISV);
      expect(restarted.code).toBe(0);
      const page = (await (await fetch(`${registry}/raas/stats/acme/app`)).json()) as {
        tags: Record<string, number>;
      };
      expect(page.tags).toEqual(Object.fromEntries(after));
      expect((await fetch(`${registry}/raas/stats/acme/nope`)).status).toBe(404);
      expect((await fetch(`${registry}/raas/stats/acme/app?since=yesterday`)).status).toBe(400);
      expect((await fetch(`${registry}/raas/stats/acme/..%2Fapp`)).status).toBe(404);
      expect((await fetch(`${registry}/raas/stats/Acme/App`)).status).toBe(400);
      const since = (await (await fetch(`${registry}/raas/stats/acme/app?since=2999-01-01`)).json()) as {
        total: number;
      };
      expect(since.total).toBe(0);
    }, 180_000);

    it("sends a delete event for each tag raas delete and raas gc --retention remove", async () => {
      const pushed = await push("3.0");
      const digest3 = pushed.images[0]?.digest ?? "";
      const tags = async () => {
        const run = await raas("status", ISV, "--json");
        expect(run.code, run.stdout + run.stderr).toBe(0);
        const res = await fetch(`${registry}/v2/acme/app/tags/list`);
        return ((await res.json()) as { tags: string[] }).tags.sort();
      };
      await until("3.0 to be served", async () => ((await tags()).includes("3.0") ? true : undefined));
      const config = await readFile(join(work, "raas.cfg"), "utf8");
      await writeFile(
        join(work, "raas.cfg"),
        `${config}\n[retention.${ISV}.newest]\nrepositories = acme/*\nkeep_last = 1\nkeep_tags = 1.*\n`,
      );
      const dry = await raas("gc", ISV, "--retention", "--dry-run", "--json");
      expect(dry.code, dry.stdout + dry.stderr).toBe(0);
      const planned = JSON.parse(dry.stdout) as {
        retention: { decisions: { tag: string; delete: boolean; reasons: string[] }[]; commit?: string };
      };
      expect(planned.retention.decisions.map((d) => [d.tag, d.delete, d.reasons.join("; ")])).toEqual([
        ["1.0", false, "kept by newest: matches 1.*"],
        ["2.0", true, "no rule keeps it (newest applies)"],
        ["3.0", false, "kept by newest: among the newest 1"],
      ]);
      expect(await tags()).toEqual(["1.0", "2.0", "3.0"]);
      const text = await raas("gc", ISV, "--retention", "--dry-run");
      expect(text.stdout).toMatch(/delete\s+acme\/app:2\.0\s+no rule keeps it/);

      const applied = await raas("gc", ISV, "--retention", "--json");
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      expect(
        (JSON.parse(applied.stdout) as { retention: { deletedTags: number } }).retention.deletedTags,
      ).toBe(1);
      const deleted = await raas("delete", ISV, "acme/app:3.0", "--json");
      expect(deleted.code, deleted.stdout + deleted.stderr).toBe(0);
      await until("2.0 and 3.0 to be gone", async () => ((await tags()).join() === "1.0" ? true : undefined));

      const deletes = await until("2 delete events", () => {
        const d = received().filter((e) => e.action === "delete");
        return d.length >= 2 ? d : undefined;
      });
      expect(deletes).toHaveLength(2);
      const byTag = new Map(deletes.map((e) => [e.target.tag, e]));
      expect(byTag.get("3.0")).toMatchObject({
        target: { repository: "acme/app", tag: "3.0", digest: digest3 },
        request: { method: "DELETE" },
        source: { instanceID: "raas-cli" },
      });
      expect(byTag.get("2.0")?.target.repository).toBe("acme/app");
      expect(byTag.get("2.0")?.target.digest).toMatch(/^sha256:/);
    }, 180_000);
  });
}
