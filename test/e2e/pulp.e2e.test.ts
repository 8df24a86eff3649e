/**
 * Pulp exports and image federation, end to end on the embedded default (local storage,
 * local registry server): an ISV image on two vendor layers is pushed; the vendor layers are
 * never uploaded; a v1 client walk and a skopeo (v2) pull both get every byte, the vendor's
 * through redirects to the vendor site; a second image on the same base fetches no vendor
 * layer again; and hostile exports are refused with nothing published. Real processes,
 * real HTTP, real skopeo. About 15 s.
 */
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import {
  buildV1Chain,
  startVendorSite,
  writePulpExport,
  type V1Built,
  type VendorSite,
} from "../helpers/pulp-builder.js";
import { skopeoCopy, verifyOciDir } from "../helpers/skopeo.js";
import type { TarEntry } from "../helpers/tar-writer.js";
import { publishedFiles } from "../helpers/storage-files.js";

const ISV = "demo";
const NAME = "acme/bigdata-app";

interface PushJson {
  images: {
    name: string;
    tags: string[];
    digest: string;
    counts: Record<string, number>;
    v1MetadataFile?: string;
  }[];
}

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe("Pulp export with masked vendor layers (embedded default)", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let vendor: VendorSite;
  let vendorImages: V1Built[];
  let isvImages: V1Built[];
  let host: string;
  const raas = (...args: string[]) => runCli(args, { cwd: work, env });
  const storage = () => join(work, "home", "raas", ISV, "storage");
  const pushJson = async (...args: string[]): Promise<PushJson> => {
    const run = await raas("push", ISV, ...args, "--json");
    if (run.code !== 0) throw new Error(`raas push failed (${run.code}):\n${run.stdout}\n${run.stderr}`);
    return JSON.parse(run.stdout) as PushJson;
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-pulp-e2e-"));
    env = cliEnv(join(work, "home"));
    await reservePort(join(work, "home", "raas"), ISV);
    vendorImages = await buildV1Chain(["rhel-base", "rhel-update"], { layerSize: 50_000 });
    isvImages = await buildV1Chain(["isv-runtime", "isv-app"], {
      parent: vendorImages[1],
      layerSize: 80_000,
    });
    vendor = await startVendorSite(join(work, "vendor"), vendorImages);
    await mkdir(join(work, "redhat", "metadata"), { recursive: true });
    await writeFile(join(work, "redhat", "metadata", "rhel7.json"), vendor.metadata);
    await writeFile(join(work, "raas.cfg"), "[raas]\nstorage = local\n");
    await writePulpExport(join(work, "bigdata-app.tar"), {
      repoId: "acme-bigdata-app",
      registryId: NAME,
      images: isvImages,
      tags: { latest: isvImages[1]?.id ?? "" },
    });
    const setup = await raas("setup", ISV);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const platform = JSON.parse(await readFile(join(work, "home", "raas", ISV, "platform.json"), "utf8")) as {
      port: number;
    };
    host = `127.0.0.1:${platform.port}`;
  }, 120_000);

  afterAll(async () => {
    await stopBackgroundServer(join(work, "home", "raas"), ISV);
    await vendor?.close();
    await rm(work, { recursive: true, force: true });
  });

  it("publishes the ISV layers only, and the vendor layers are described once from the vendor site", async () => {
    const pushed = await pushJson("bigdata-app");
    expect(pushed.images).toHaveLength(1);
    expect(pushed.images[0]).toMatchObject({
      name: NAME,
      tags: ["latest"],
      counts: { uploaded: 3, masked: 2 },
    });
    expect(pushed.images[0]?.v1MetadataFile).toBe("data/v1/demo-acme-bigdata-app.json");
    expect(vendor.layerRequests()).toBe(2);

    const files = (await publishedFiles(storage())).map((f) => join(storage(), f));
    for (const image of vendorImages) {
      expect(files.some((f) => f.includes(image.id) || f.includes(image.digest.slice(7)))).toBe(false);
      for (const file of files) expect(sha(await readFile(file))).not.toBe(image.digest);
    }
    for (const image of isvImages) {
      expect(files).toContain(join(storage(), "acme-bigdata-app", image.id, "layer"));
      expect(files).toContain(
        join(storage(), "acme-bigdata-app", "blobs", `sha256:${image.digest.slice(7)}`),
      );
    }
    const cache = JSON.parse(await readFile(join(work, "redhat", "descriptors.json"), "utf8")) as {
      layers: Record<string, { digest: string; diffId: string }>;
    };
    for (const image of vendorImages) {
      expect(cache.layers[image.id]).toMatchObject({ digest: image.digest, diffId: image.diffId });
    }
  });

  it("serves a v1 walk: tags, ancestry, then json and layer of every id, vendor ids via the vendor site", async () => {
    const base = `http://${host}`;
    const tags = await fetch(`${base}/v1/repositories/${NAME}/tags`);
    expect(tags.status).toBe(200);
    const top = isvImages[1] as V1Built;
    expect(await tags.json()).toEqual({ latest: top.id });
    const ancestry = (await (await fetch(`${base}/v1/images/${top.id}/ancestry`)).json()) as string[];
    const all = [...vendorImages, ...isvImages];
    expect(ancestry).toEqual(top.ancestry);
    for (const id of ancestry) {
      const original = all.find((i) => i.id === id) as V1Built;
      const isVendor = vendorImages.includes(original);
      const redirect = await fetch(`${base}/v1/images/${id}/layer`, { redirect: "manual" });
      if (isVendor) {
        expect(redirect.status).toBe(302);
        expect(redirect.headers.get("location")).toBe(`${vendor.url}${id}/layer`);
      }
      await redirect.body?.cancel();
      const json = (await (await fetch(`${base}/v1/images/${id}/json`)).json()) as { id: string };
      expect(json.id).toBe(id);
      const layer = Buffer.from(await (await fetch(`${base}/v1/images/${id}/layer`)).arrayBuffer());
      expect(sha(layer)).toBe(original.digest);
    }
  });

  it("lets skopeo pull the v2 conversion, vendor blobs included, every digest verified", async () => {
    const dir = join(work, "pull");
    await skopeoCopy(`${host}/${NAME}:latest`, `oci:${dir}`);
    const pulled = await verifyOciDir(dir);
    const chain = [...vendorImages, ...isvImages];
    expect(pulled.diffIds).toEqual(chain.map((i) => i.diffId));
    expect(pulled.layers).toEqual(chain.map((i) => i.digest));
  });

  it("describes vendor layers as Docker foreign layers, so skopeo pulls them from the vendor through a server that knows nothing of x-raas", async () => {
    // A stand-in for any static registry (a Crane-style server on the same storage): it serves
    // only what raas stored, manifests and blobs by key, and has never heard of x-raas.
    const seen: string[] = [];
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      seen.push(path);
      if (path === "/v2/" || path === "/v2") {
        return void res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
      }
      const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
      const key =
        match === null
          ? undefined
          : `${(match[1] ?? "").replaceAll("/", "-")}/${match[2] === "manifests" ? "manifests/2" : "blobs"}/${match[3]}`;
      readFile(join(storage(), key ?? "missing/key")).then(
        (bytes) => {
          res.writeHead(200, {
            "Content-Type":
              match?.[2] === "manifests"
                ? "application/vnd.docker.distribution.manifest.v2+json"
                : "application/octet-stream",
            "Content-Length": bytes.length,
            "Docker-Content-Digest": sha(bytes),
          });
          res.end(req.method === "HEAD" ? undefined : bytes);
        },
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const manifest = JSON.parse(
        (await readFile(join(storage(), "acme-bigdata-app", "manifests", "2", "latest"))).toString(),
      ) as { layers: { mediaType: string; digest: string; urls?: string[] }[] };
      const foreign = manifest.layers.filter(
        (l) => l.mediaType === "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
      );
      expect(foreign.map((l) => l.digest)).toEqual(vendorImages.map((i) => i.digest));
      expect(foreign.map((l) => l.urls)).toEqual(vendorImages.map((i) => [`${vendor.url}${i.id}/layer`]));

      const before = vendor.layerRequests();
      const dir = join(work, "pull-static");
      // dir: does not keep foreign layers as references (oci: would), so every layer is fetched.
      await skopeoCopy(`127.0.0.1:${port}/${NAME}:latest`, `dir:${dir}`);
      for (const image of [...vendorImages, ...isvImages]) {
        expect(sha(await readFile(join(dir, image.digest.slice(7))))).toBe(image.digest);
      }
      // The vendor layers came from the vendor, never from the static server.
      expect(vendor.layerRequests() - before).toBe(vendorImages.length);
      for (const image of vendorImages) expect(seen).not.toContain(`/v2/${NAME}/blobs/${image.digest}`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("fetches no vendor layer again for a second image on the same vendor base", async () => {
    const other = await buildV1Chain(["isv-tools"], { parent: vendorImages[1], layerSize: 30_000 });
    await writePulpExport(join(work, "tools.tar"), {
      repoId: "acme-tools",
      registryId: "acme/tools",
      images: other,
      tags: { "1.0": other[0]?.id ?? "" },
    });
    const before = vendor.layerRequests();
    const pushed = await pushJson("tools.tar");
    expect(pushed.images[0]?.counts).toMatchObject({ uploaded: 2, masked: 2 });
    expect(vendor.layerRequests()).toBe(before);
    const dir = join(work, "pull-tools");
    await skopeoCopy(`${host}/acme/tools:1.0`, `oci:${dir}`);
    expect((await verifyOciDir(dir)).diffIds).toEqual([...vendorImages, ...other].map((i) => i.diffId));
  });

  it("reports the published exports healthy with status: v1 files, v2 conversion and vendor blobs", async () => {
    const run = await raas("status", ISV, "--verify", "--json");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as {
      ok: boolean;
      checks: { name: string; status: string; detail: string }[];
    };
    expect(report.ok).toBe(true);
    expect(report.checks.find((c) => c.name === NAME)?.detail).toMatch(/2 masked/);
    // A v1 file the storage lost is named precisely.
    const layer = (await publishedFiles(storage()))
      .map((f) => join(storage(), f))
      .find((f) => /\/acme-bigdata-app\/[a-f0-9]{64}\/layer$/.test(f));
    if (layer === undefined) throw new Error("no v1 layer in storage");
    await rm(layer);
    const broken = await raas("status", ISV);
    expect(broken.code).toBe(1);
    const id = layer.split("/").at(-2) ?? "";
    expect(broken.stdout).toContain(`v1 image ${id} is missing its layer in storage`);
  });

  it("re-hashes v1 layers with --verify: a corrupted v1 layer of the same size fails", async () => {
    // The previous test removed one v1 layer; a push puts it back.
    await pushJson("bigdata-app");
    expect((await raas("status", ISV, "--verify")).code).toBe(0);
    const top = isvImages[1] as V1Built;
    const file = join(storage(), "acme-bigdata-app", top.id, "layer");
    const size = (await readFile(file)).length;
    await writeFile(file, Buffer.alloc(size, 0x41));
    const quick = await raas("status", ISV);
    expect(quick.code, quick.stdout).toBe(0);
    const verified = await raas("status", ISV, "--verify");
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain(
      `v1 layer of image ${top.id} is corrupt in storage: acme-bigdata-app/${top.id}/layer hashes to sha256:`,
    );
    expect(verified.stdout).toContain(`its layer is ${top.digest}`);
    await rm(file);
    await pushJson("bigdata-app");
    expect((await raas("status", ISV, "--verify")).code).toBe(0);
  });

  it("counts masked vendor layers the same in the v1 line and the summary", async () => {
    const other = await buildV1Chain(["isv-extra"], { parent: vendorImages[1], layerSize: 20_000 });
    await writePulpExport(join(work, "extra.tar"), {
      repoId: "acme-extra",
      registryId: "acme/extra",
      images: other,
      tags: { "2.0": other[0]?.id ?? "" },
    });
    const run = await raas("push", ISV, "extra.tar");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const summary = /blobs\s+\d+ uploaded .*, (\d+) masked/.exec(run.stdout)?.[1];
    const v1Line = /v1 images of acme\/extra: .*, (\d+) masked/.exec(run.stdout)?.[1];
    expect(summary).toBe("2");
    expect(v1Line).toBe(summary);
  });

  const hostile: [string, (entries: TarEntry[], images: V1Built[]) => TarEntry[], RegExp][] = [
    [
      "a path-traversal member",
      (e) => [...e, { name: "web/../../etc/passwd", data: "x" }],
      /contains "\.\."/,
    ],
    [
      "a symlink",
      (e, i) =>
        e.map((m) =>
          m.name === `web/${i[1]?.id}/json`
            ? { name: m.name, type: "symlink" as const, linkTarget: "../x" }
            : m,
        ),
      /symlink/,
    ],
    ["a missing layer", (e, i) => e.filter((m) => m.name !== `web/${i[1]?.id}/layer`), /has no layer/],
  ];
  for (const [what, edit, message] of hostile) {
    it(`refuses an export with ${what}, publishing nothing`, async () => {
      const images = await buildV1Chain(["bad-1", "bad-2"], { parent: vendorImages[1] });
      const path = join(work, "bad.tar");
      await writePulpExport(path, {
        repoId: "acme-bad",
        registryId: "acme/bad",
        images,
        tags: { latest: images[1]?.id ?? "" },
        edit: (entries) => edit(entries, images),
      });
      const before = await publishedFiles(storage());
      const run = await raas("push", ISV, path);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain("bad.tar");
      const after = await publishedFiles(storage());
      expect(after.filter((f) => !before.includes(f))).toEqual([]);
      expect(after).toEqual(before);
    });
  }

  it("refuses an ancestry naming an id neither present nor masked, and an images list disagreeing with web/", async () => {
    const orphan = await buildV1Chain(["unknown-base", "child"]);
    const path = join(work, "orphan.tar");
    await writePulpExport(path, {
      repoId: "acme-orphan",
      registryId: "acme/orphan",
      images: orphan.slice(1),
      tags: { latest: orphan[1]?.id ?? "" },
    });
    const before = await publishedFiles(storage());
    const run = await raas("push", ISV, path);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(`names ${orphan[0]?.id}, neither in the archive nor a masked vendor layer`),
    );

    const images = await buildV1Chain(["list-1", "list-2"], { parent: vendorImages[1] });
    await writePulpExport(path, {
      repoId: "acme-list",
      registryId: "acme/list",
      images,
      tags: { latest: images[1]?.id ?? "" },
      listed: [images[1]?.id ?? ""],
    });
    const disagree = await raas("push", ISV, path);
    expect(disagree.code).toBe(1);
    expect(disagree.stderr).toMatch(/images list disagrees with web\/.*not listed/);
    expect(await publishedFiles(storage())).toEqual(before);
  });
});
