/**
 * `raas delete` and `raas gc` end to end, on S3 (s3rver on loopback) and on the embedded
 * default (local storage): real CLI runs, the registry server setup started, skopeo pulling.
 * A deleted tag stops being served while the rest still pulls; the last tag takes the
 * repository out of the catalog and search; gc frees what nothing references and every
 * remaining image still pulls whole; status shows reclaimable bytes and the last GC.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { buildDockerArchive, buildOciLayout, type BuiltImage } from "../helpers/image-builder.js";
import { s3RaasConfig, startS3rver, type RunningS3rver } from "../helpers/s3rver.js";
import { skopeoCopy, skopeoInspectDigest, verifyOciDir } from "../helpers/skopeo.js";

const ISV = "life";

interface DeleteJson {
  ok: boolean;
  deleted: {
    name: string;
    dryRun: boolean;
    removedTags: string[];
    removedManifests: string[];
    unreferencedBlobs: number;
    repositoryRemoved: boolean;
    commit?: string;
    deployed: boolean | null;
  };
}

interface GcJson {
  ok: boolean;
  gc: {
    dryRun: boolean;
    freed: { count: number; bytes: number };
    keptByGrace: { count: number; bytes: number };
    freedKeys: string[];
  };
}

for (const kind of ["s3", "local"] as const) {
  describe(`delete and gc end to end (${kind === "s3" ? "S3 on loopback" : "local storage"})`, () => {
    let work: string;
    let env: NodeJS.ProcessEnv;
    let s3: RunningS3rver | undefined;
    let host: string;
    let app1: BuiltImage;
    let app2: BuiltImage;
    let web: BuiltImage;
    const digests: Record<string, string> = {};

    const raas = (...args: string[]) => runCli(args, { cwd: work, env });
    const json = async <T>(...args: string[]): Promise<T> => {
      const run = await raas(...args, "--json");
      if (run.code !== 0) {
        throw new Error(`raas ${args.join(" ")} failed (${run.code}):\n${run.stdout}\n${run.stderr}`);
      }
      return JSON.parse(run.stdout) as T;
    };
    const remote = () => join(work, "home", "raas", ISV, "app.git");
    const git = (...args: string[]) =>
      execFileSync("git", ["--git-dir", remote(), ...args], { encoding: "utf8" });
    const storedKeys = async (): Promise<string[]> => {
      if (kind === "local") {
        const out = execFileSync(
          "find",
          [".", "-type", "f", "-not", "-path", "./.meta/*", "-not", "-path", "./.tmp/*"],
          {
            cwd: join(work, "home", "raas", ISV, "storage"),
            encoding: "utf8",
          },
        );
        return out
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => l.slice(2))
          .sort();
      }
      const response = await fetch(`${s3?.endpoint ?? ""}/life-images?list-type=2`);
      const xml = await response.text();
      return [...xml.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1] ?? "").sort();
    };
    const pull = async (ref: string, image: BuiltImage) => {
      const dir = await mkdtemp(join(work, "pull-"));
      await skopeoCopy(`${host}/${ref}`, `oci:${dir}`);
      expect((await verifyOciDir(dir)).diffIds).toEqual(image.manifests[0]?.layers.map((l) => l.diffId));
    };
    const served = async (path: string) => (await fetch(`http://${host}${path}`)).status;

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), "raas-life-"));
      env = cliEnv(join(work, "home"));
      await reservePort(join(work, "home", "raas"), ISV);
      if (kind === "s3") {
        s3 = await startS3rver({ buckets: ["life-images"] });
        await writeFile(
          join(work, "raas.cfg"),
          s3RaasConfig({
            endpoint: s3.endpoint,
            credentials: s3.credentials,
            isv: ISV,
            bucket: "life-images",
          }),
        );
      }
      const setup = await raas("setup", ISV);
      expect(setup.code, setup.stdout + setup.stderr).toBe(0);
      const { port } = JSON.parse(
        await readFile(join(work, "home", "raas", ISV, "platform.json"), "utf8"),
      ) as {
        port: number;
      };
      host = `127.0.0.1:${port}`;
      app1 = await buildDockerArchive(join(work, "app1.tar"), {
        name: "acme/app",
        tag: "1.0",
        layers: 2,
        layerSize: 50_000,
      });
      app2 = await buildDockerArchive(join(work, "app2.tar"), {
        name: "acme/app",
        tag: "2.0",
        layers: 3,
        layerSize: 50_000,
        sharedLayersFrom: app1,
      });
      web = await buildOciLayout(join(work, "web.tar"), {
        name: "acme/web",
        tag: "1",
        layers: 1,
        gzip: true,
      });
      for (const image of [app1, app2, web]) {
        const pushed = await json<{ images: { digest: string }[] }>("push", ISV, image.path);
        digests[`${image.name}:${image.tag}`] = pushed.images[0]?.digest ?? "";
      }
    }, 180_000);

    afterAll(async () => {
      await stopBackgroundServer(join(work, "home", "raas"), ISV);
      await s3?.stop();
      await rm(work, { recursive: true, force: true });
    });

    it("a dry run changes nothing; a tag deletion is one commit and the registry stops serving that tag", async () => {
      const head = git("rev-parse", "HEAD");
      const dry = await json<DeleteJson>("delete", ISV, "acme/app:1.0", "--dry-run");
      expect(dry.deleted).toMatchObject({ dryRun: true, removedTags: ["1.0"], repositoryRemoved: false });
      expect(git("rev-parse", "HEAD")).toBe(head);
      expect(await skopeoInspectDigest(`${host}/acme/app:1.0`)).toBe(digests["acme/app:1.0"]);

      const done = await json<DeleteJson>("delete", ISV, "acme/app:1.0");
      expect(done.deleted).toMatchObject({
        dryRun: false,
        removedTags: ["1.0"],
        removedManifests: [],
        deployed: true,
      });
      expect(git("log", "-1", "--format=%s").trim()).toBe(`${ISV} delete acme/app:1.0`);
      expect(await served("/v2/acme/app/manifests/1.0")).toBe(404);
      // The manifest stays pullable by digest while the repository has tags.
      await pull(`acme/app@${digests["acme/app:1.0"]}`, app1);
      await pull("acme/app:2.0", app2);
      const tags = (await (await fetch(`http://${host}/v2/acme/app/tags/list`)).json()) as { tags: string[] };
      expect(tags.tags).toEqual(["2.0"]);
    });

    it("says clearly what does not exist, and exits 2 on a malformed reference", async () => {
      const unknownTag = await raas("delete", ISV, "acme/app:9.9");
      expect(unknownTag.code).toBe(1);
      expect(unknownTag.stderr).toContain("error: acme/app has no tag 9.9");
      expect(unknownTag.stderr).toContain("hint: Its tags: 2.0.");
      const unknownRepo = await raas("delete", ISV, "acme/nothing:1");
      expect(unknownRepo.stderr).toContain(`error: ${ISV} has no repository acme/nothing`);
      const malformed = await raas("delete", ISV, "acme/app");
      expect(malformed.code).toBe(2);
      expect(malformed.stderr).toMatch(/no tag or digest given/);
    });

    it("deleting the last tag by digest removes the repository from the catalog and search", async () => {
      const done = await json<DeleteJson>("delete", ISV, `acme/web@${digests["acme/web:1"] ?? ""}`);
      expect(done.deleted).toMatchObject({ removedTags: ["1"], repositoryRemoved: true, deployed: true });
      expect(git("ls-tree", "-r", "--name-only", "HEAD").split("\n")).not.toContainEqual(
        expect.stringMatching(/acme-web/),
      );
      const catalog = (await (await fetch(`http://${host}/v2/_catalog`)).json()) as {
        repositories: string[];
      };
      expect(catalog.repositories).toEqual(["acme/app"]);
      const search = (await (await fetch(`http://${host}/v1/search?q=web`)).json()) as { results: unknown[] };
      expect(search.results).toEqual([]);
      expect(await served(`/v2/acme/web/manifests/${digests["acme/web:1"] ?? ""}`)).toBe(404);
    });

    it("status reports the garbage as reclaimable later, without failing", async () => {
      const status = await raas("status", ISV, "--json");
      expect(status.code, status.stdout + status.stderr).toBe(0);
      const report = JSON.parse(status.stdout) as {
        checks: { name: string; status: string; detail: string }[];
      };
      const garbage = report.checks.find((c) => c.name === "garbage");
      // Everything is younger than the default 24h grace: nothing is reclaimable yet.
      expect(garbage?.detail).toMatch(
        /^0 B reclaimable \(0 object\(s\), 0 bytes\).* [1-9]\d* newer unreferenced object\(s\) wait out the 24h grace period; gc has never run$/,
      );
      // The store's lifecycle lines (status-lifecycle.ts) come through the command too.
      expect(report.checks.filter((c) => c.name === "retention" || c.name === "upload sessions")).toEqual([
        { name: "retention", status: "ok", detail: "retention has never run (raas gc --retention)" },
        { name: "upload sessions", status: "ok", detail: "no open upload session" },
      ]);
      // Status reuses its own listing and marks; `gc --dry-run` lists and marks by itself: same answer.
      const dry = await json<GcJson>("gc", ISV, "--dry-run");
      expect(garbage?.detail).toContain(
        `(${dry.gc.freed.count} object(s), ${dry.gc.freed.bytes} bytes) by \`raas gc ${ISV}\`; ${dry.gc.keptByGrace.count} newer unreferenced`,
      );
    });

    it("gc refuses an unsafe grace, --dry-run deletes nothing, and a run frees the garbage while every image still pulls", async () => {
      const unsafe = await raas("gc", ISV, "--grace", "10m");
      expect(unsafe.code).toBe(2);
      expect(unsafe.stderr).toMatch(/below the safe minimum of 1h/);
      const kept = await json<GcJson>("gc", ISV, "--grace", "24h");
      expect(kept.gc.freed.count).toBe(0);
      expect(kept.gc.keptByGrace.count).toBeGreaterThan(0);
      const before = await storedKeys();
      expect(before).toContain(".raas-gc/last.json");
      const dry = await json<GcJson>("gc", ISV, "--grace", "0", "--unsafe-grace", "--dry-run");
      expect(dry.gc.freed.count).toBe(kept.gc.keptByGrace.count);
      // The running registry flushes its pull statistics every 10 s and may add an object
      // meanwhile (gc never deletes those): everything else is as before.
      const notStats = (keys: string[]) => keys.filter((k) => !k.startsWith(".raas/stats/"));
      expect(notStats(await storedKeys())).toEqual(notStats(before));

      const run = await json<GcJson>("gc", ISV, "--grace", "0", "--unsafe-grace");
      expect(run.gc.freedKeys.sort()).toEqual(dry.gc.freedKeys.sort());
      const after = await storedKeys();
      for (const key of run.gc.freedKeys) expect(after).not.toContain(key);
      expect(run.gc.freedKeys.filter((k) => k.startsWith("acme-web/")).length).toBeGreaterThan(0);
      expect(after.filter((k) => k.startsWith("acme-web/"))).toEqual([]);
      expect(run.gc.freedKeys).toContain("acme-app/manifests/2/1.0");

      await pull("acme/app:2.0", app2);
      await pull(`acme/app@${digests["acme/app:1.0"]}`, app1);
      const status = await raas("status", ISV, "--json");
      expect(status.code, status.stdout + status.stderr).toBe(0);
      const report = JSON.parse(status.stdout) as {
        checks: { name: string; status: string; detail: string }[];
      };
      expect(report.checks.filter((c) => c.status === "warn").map((c) => c.detail)).toEqual([]);
      expect(report.checks.find((c) => c.name === "garbage")?.detail).toMatch(
        new RegExp(`last gc \\S+ freed ${run.gc.freed.count} object\\(s\\)`),
      );
    });
  });
}
