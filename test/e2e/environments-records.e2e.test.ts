/**
 * Two environments on one store (a local directory, then an s3rver bucket), each with its own registry started from the
 * registry.conf `raas setup` wrote (plus `[push]`, as an operator adds it): pushes through each
 * registry's push API write tag objects under `_env/<env>/`, where `raas push --env` writes them,
 * so `raas status --env` is clean; pulls are counted per environment, exactly, by the registries'
 * statistics, `/raas/stats/<name>` and `raas stats --env`; and each registry delivers its own
 * events to the ISV's endpoint once (docs/environments.md, "Statistics and events").
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RegistryEvent } from "../../src/events/envelope.js";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { writeOciLayoutDir } from "../helpers/image-builder.js";
import { skopeoPush } from "../helpers/skopeo.js";
import { s3RaasConfig, startS3rver, type RunningS3rver } from "../helpers/s3rver.js";
import {
  startCollector,
  startEnvironmentRegistries,
  type Collector,
  type RegistryProcess,
} from "../helpers/push-api-server.js";

const ISV = "twin";
const ENVS = ["test", "prod"] as const;
type Env = (typeof ENVS)[number];
const PULLS: Record<Env, number> = { test: 3, prod: 5 };
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";

async function files(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(root, join(e.parentPath, e.name)));
}

describe.each(["local", "s3"] as const)(
  "environments sharing one %s store, each through its own registry",
  (kind) => {
    let work: string;
    let s3: RunningS3rver | undefined;
    let env: NodeJS.ProcessEnv;
    let collector: Collector | undefined;
    const received = (): RegistryEvent[] => collector?.received ?? [];
    const servers: Partial<Record<Env, RegistryProcess>> = {};
    const home = () => join(work, "home", "raas");
    const BUCKET = "twin-images";
    /** Every key in the shared store. */
    const storedKeys = async (): Promise<string[]> => {
      if (s3 === undefined) return files(join(home(), ISV, "storage"));
      const xml = await (await fetch(`${s3.endpoint}/${BUCKET}?list-type=2`)).text();
      expect(xml).not.toContain("<IsTruncated>true</IsTruncated>");
      return [...xml.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1] ?? "");
    };
    const raas = (...args: string[]) => runCli(args, { cwd: work, env });
    const base = (e: Env) => `http://${servers[e]?.host ?? ""}`;

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), "raas-env-records-"));
      collector = await startCollector();
      env = cliEnv(join(work, "home"));
      for (const e of ENVS) await reservePort(home(), `${ISV}.${e}`);
      const events = [
        "",
        "[events.collector]",
        `url = ${collector.url}`,
        "timeout = 20s",
        "backoff = 300ms",
        "pull_window = 200ms",
        "",
      ];
      let serverEnv: Record<string, string> = {};
      if (kind === "s3") {
        s3 = await startS3rver({ buckets: [BUCKET] });
        serverEnv = {
          AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
        };
        await writeFile(
          join(work, "raas.cfg"),
          s3RaasConfig({
            endpoint: s3.endpoint,
            credentials: s3.credentials,
            isv: ISV,
            bucket: BUCKET,
            extra: [`environments = ${ENVS.join(" ")}`, ...events],
          }),
        );
      } else {
        await writeFile(
          join(work, "raas.cfg"),
          [`[${ISV}]`, `environments = ${ENVS.join(" ")}`, ...events].join("\n"),
        );
      }
      const setup = await raas("setup", ISV);
      expect(setup.code, setup.stdout + setup.stderr).toBe(0);
      await writeOciLayoutDir(join(work, "src"), {
        name: "acme/app",
        tag: "1.0",
        layers: 2,
        gzip: true,
        annotations: "skopeo",
      });
      await startEnvironmentRegistries(
        {
          work,
          raasHome: home(),
          isv: ISV,
          envs: ENVS,
          extra: "\n[stats]\nflush_interval = 500ms\n",
          env: serverEnv,
        },
        servers,
      );
    }, 300_000);

    afterAll(async () => {
      // Awaited: a stopping registry still writes its last statistics and events to the store.
      for (const e of ENVS) await servers[e]?.stop();
      for (const e of ENVS) await stopBackgroundServer(home(), `${ISV}.${e}`);
      await collector?.close();
      await s3?.stop();
      await rm(work, { recursive: true, force: true });
    });

    it("setup says which registries share the store and which keeps the plain statistics", async () => {
      const conf = (e: Env) => readFile(join(home(), `${ISV}.${e}`, "deploy", "registry.conf"), "utf8");
      expect(await conf("test")).toContain("environment = test\nshared_store = true\nown_records = false\n");
      expect(await conf("prod")).toContain("environment = prod\nshared_store = true\nown_records = true\n");
    });

    it("pushes through each push API write tag objects under _env/<env>/, and status is clean", async () => {
      for (const e of ENVS) {
        const pushed = await skopeoPush(
          `oci:${join(work, "src")}:1.0`,
          `${servers[e]?.host ?? ""}/acme/app:1.0`,
          {
            creds: "rita:pw",
          },
        );
        expect(pushed).toBe("");
      }
      const stored = await storedKeys();
      const tagObjects = stored.filter((k) => /\/(manifests\/[^/]+\/1\.0|tags\/list)$/.test(k));
      expect(tagObjects.filter((k) => k.startsWith("_env/test/")).length).toBeGreaterThan(0);
      expect(tagObjects.filter((k) => k.startsWith("_env/prod/")).length).toBeGreaterThan(0);
      // None at the plain keys, where the other environment's registry (or Crane) would read them.
      expect(tagObjects.filter((k) => !k.startsWith("_env/"))).toEqual([]);
      for (const e of ENVS) {
        const status = await raas("status", ISV, "--env", e);
        expect(status.code, status.stdout + status.stderr).toBe(0);
      }
    }, 300_000);

    it("counts each registry's pulls for its own environment, exactly", async () => {
      for (const e of ENVS) {
        for (let i = 0; i < PULLS[e]; i++) {
          const res = await fetch(`${base(e)}/v2/acme/app/manifests/1.0`, { headers: { Accept: MANIFEST } });
          expect(res.status).toBe(200);
          await res.arrayBuffer();
        }
      }
      const total = async (e: Env) => {
        const res = await fetch(`${base(e)}/raas/stats/acme/app`);
        expect(res.status).toBe(200);
        return ((await res.json()) as { total: number }).total;
      };
      // Flushed every 500 ms and cached 5 s by the route: wait until both are in storage.
      const end = Date.now() + 60_000;
      let seen: number[] = [];
      for (;;) {
        seen = [await total("test"), await total("prod")];
        if ((seen[0] === PULLS.test && seen[1] === PULLS.prod) || Date.now() > end) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(seen).toEqual([PULLS.test, PULLS.prod]);
      for (const e of ENVS) {
        const stats = await raas("stats", ISV, "--env", e, "--json");
        expect(stats.code, stats.stdout + stats.stderr).toBe(0);
        const result = JSON.parse(stats.stdout) as {
          pulls: number;
          totals: { tag: string; pulls: number }[];
        };
        expect(result.pulls).toBe(PULLS[e]);
        expect(result.totals).toEqual([{ repository: "acme/app", tag: "1.0", pulls: PULLS[e] }]);
      }
      // prod's counts are its own objects; test's stay at the plain keys (docs/environments.md).
      const stored = await storedKeys();
      expect(stored.some((k) => k.startsWith("_env/prod/.raas/stats/pulls/"))).toBe(true);
      expect(stored.some((k) => k.startsWith(".raas/stats/pulls/"))).toBe(true);
      expect(stored.some((k) => k.startsWith("_env/test/.raas/"))).toBe(false);
    }, 300_000);

    it("delivers each registry's events once: every pull of each environment, no event twice", async () => {
      const pulls = (e: Env) =>
        received().filter((ev) => ev.action === "pull" && ev.request.host === servers[e]?.host);
      const end = Date.now() + 60_000;
      while ((pulls("test").length < PULLS.test || pulls("prod").length < PULLS.prod) && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 200));
      }
      // A little longer: a second delivery of the same batch by another registry would arrive now.
      await new Promise((r) => setTimeout(r, 3000));
      expect(pulls("test")).toHaveLength(PULLS.test);
      expect(pulls("prod")).toHaveLength(PULLS.prod);
      for (const e of ENVS) {
        expect(
          received().filter((ev) => ev.action === "push" && ev.request.host === servers[e]?.host).length,
        ).toBeGreaterThan(0);
      }
      const ids = received().map((ev) => ev.id);
      expect(new Set(ids).size).toBe(ids.length);
      // Each environment's outbox has its own delivery lease (delivered batches are removed).
      const stored = await storedKeys();
      expect(stored).toContain("_env/prod/.raas/events/lease.json");
      expect(stored).toContain(".raas/events/lease.json");
      expect(stored.some((k) => k.startsWith("_env/test/.raas/"))).toBe(false);
    }, 300_000);
  },
);
