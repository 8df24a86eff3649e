/**
 * `[raas] docker_schema2 = true`: an OCI image index is published as a Docker manifest list
 * (layers unchanged, new manifest digests, the change reported), and it pulls with skopeo
 * through a stand-in for Pulp Crane 3.3 that knows nothing of raas.
 *
 * The stand-in is what Crane 3.3 does in redirect mode (FORMATS.md §2.4), not raas's server:
 * it reads only Crane's own v4 fields (`repo-registry-id`, `url`, `schema2_data`,
 * `manifest_list_data`, `manifest_list_amd64_tags`) from the data dir and ignores `x-raas`; it
 * answers manifests and blobs with a 302 to `url` + `manifests/{2,list}/<ref>` or
 * `blobs/<digest>` after Crane's CDN rewrite (`[cdn] url_match` -> `url_replace`), and never sets
 * `Docker-Content-Digest`. The storage it redirects to is a static file server over the local
 * storage directory that sets the Content-Type per directory, as Pulp's Apache configuration
 * does. Crane itself is Python 2-era code that cannot run here.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, sep } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Digest } from "../../src/image/digest.js";
import { MediaType } from "../../src/image/media-types.js";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { buildOciLayout, type BuiltImage } from "../helpers/image-builder.js";
import { skopeoCopy, skopeoRawManifest, verifyOciDir } from "../helpers/skopeo.js";

const ISV = "demo";

interface CraneV4Fields {
  "repo-registry-id": string;
  url: string;
  schema2_data: string[];
  manifest_list_data: string[];
  manifest_list_amd64_tags: Record<string, [string, number]>;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{
  server: Server;
  base: string;
}> {
  const server = createServer(handler);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Pulp's Apache over the storage directory: static files, Content-Type by directory. */
function storageServer(root: string) {
  return listen((req, res) => {
    const file = resolve(root, `.${decodeURIComponent((req.url ?? "/").split("?")[0] ?? "/")}`);
    if (!file.startsWith(root + sep)) return res.writeHead(404).end();
    const type = file.includes(`${sep}manifests${sep}list${sep}`)
      ? MediaType.dockerManifestList
      : file.includes(`${sep}manifests${sep}2${sep}`)
        ? MediaType.dockerManifest
        : "application/octet-stream";
    stat(file).then(
      (s) => {
        if (!s.isFile()) return res.writeHead(404).end();
        res.writeHead(200, { "Content-Type": type, "Content-Length": s.size });
        if (req.method === "HEAD") return res.end();
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
}

/** The Crane 3.3 stand-in: Crane's v4 fields only, redirects with the CDN rewrite. */
async function craneStandIn(dataDir: string, urlMatch: string, urlReplace: string) {
  const repos = new Map<string, CraneV4Fields>();
  for (const name of await readdir(dataDir)) {
    if (!name.endsWith(".json")) continue;
    const meta = JSON.parse(await readFile(join(dataDir, name), "utf8")) as CraneV4Fields;
    repos.set(meta["repo-registry-id"], meta);
  }
  return listen((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (path === "/v2/") return res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
    const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    const repo = match === null ? undefined : repos.get(match[1] ?? "");
    if (match === null || repo === undefined) return res.writeHead(404).end();
    const [, , kind, ref = ""] = match;
    const accept = String(req.headers.accept ?? "");
    let target: string | undefined;
    if (kind === "blobs") target = `blobs/${ref}`;
    else if (accept.includes(MediaType.dockerManifestList) && repo.manifest_list_data.includes(ref)) {
      target = `manifests/list/${ref}`;
    } else if (
      Object.hasOwn(repo.manifest_list_amd64_tags, ref) &&
      accept.includes(MediaType.dockerManifest)
    ) {
      const [digest, version] = repo.manifest_list_amd64_tags[ref] ?? [];
      target = `manifests/${version}/${digest}`;
    } else if (accept.includes(MediaType.dockerManifest) && repo.schema2_data.includes(ref)) {
      target = `manifests/2/${ref}`;
    }
    if (target === undefined) return res.writeHead(404).end();
    const base = repo.url.endsWith("/") ? repo.url : `${repo.url}/`;
    res.writeHead(302, { Location: (base + target).split(urlMatch).join(urlReplace) }).end();
  });
}

describe("docker_schema2 for Crane deployments (end to end)", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let oci: BuiltImage;
  const servers: Server[] = [];
  const raas = (...args: string[]) => runCli(args, { cwd: work, env });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-schema2-"));
    env = cliEnv(join(work, "home"));
    await reservePort(join(work, "home", "raas"), ISV);
    await writeFile(join(work, "raas.cfg"), "[raas]\ndocker_schema2 = true\n");
    const setup = await raas("setup", ISV);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    oci = await buildOciLayout(join(work, "web.tar"), {
      name: "acme/web",
      tag: "2.0",
      layers: 2,
      gzip: true,
      layerSize: 100_000,
      platforms: [
        { architecture: "amd64", os: "linux" },
        { architecture: "arm64", os: "linux", variant: "v8" },
      ],
    });
  }, 120_000);

  afterAll(async () => {
    for (const server of servers) server.close();
    await stopBackgroundServer(join(work, "home", "raas"), ISV);
    await rm(work, { recursive: true, force: true });
  });

  it("publishes an OCI index as a Docker manifest list that skopeo pulls through a Crane stand-in", async () => {
    const run = await raas("push", ISV, "web.tar", "--json");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const pushed = (
      JSON.parse(run.stdout) as {
        images: {
          digest: string;
          mediaType: string;
          convertedFrom?: { digest: string; mediaType: string };
        }[];
      }
    ).images[0];
    expect(pushed?.mediaType).toBe(MediaType.dockerManifestList);
    expect(pushed?.convertedFrom).toEqual({ digest: oci.digest, mediaType: MediaType.ociIndex });
    expect(pushed?.digest).not.toBe(oci.digest);
    // The change is printed in the human output too.
    const text = await raas("push", ISV, "web.tar");
    expect(text.stdout + text.stderr).toContain(
      `${oci.digest} is published as ${MediaType.dockerManifestList}`,
    );

    const storageRoot = join(work, "home", "raas", ISV, "storage");
    const storage = await storageServer(storageRoot);
    servers.push(storage.server);
    const crane = await craneStandIn(
      join(work, "home", "raas", ISV, "deploy", "data"),
      `file://${storageRoot}/`,
      `${storage.base}/`,
    );
    servers.push(crane.server);
    const host = crane.base.replace("http://", "");

    // The list Crane serves is the converted one, by tag and by its new digest.
    const list = await skopeoRawManifest(`${host}/acme/web:2.0`);
    expect(sha256Digest(list)).toBe(pushed?.digest);
    const doc = JSON.parse(list.toString()) as {
      mediaType: string;
      manifests: { mediaType: string; digest: string; platform: { architecture: string } }[];
    };
    expect(doc.mediaType).toBe(MediaType.dockerManifestList);
    expect(doc.manifests.map((m) => [m.mediaType, m.platform.architecture])).toEqual([
      [MediaType.dockerManifest, "amd64"],
      [MediaType.dockerManifest, "arm64"],
    ]);

    for (const ref of [`${host}/acme/web:2.0`, `${host}/acme/web@${pushed?.digest ?? ""}`]) {
      const dir = join(work, `pull-${ref.includes("@") ? "digest" : "tag"}`);
      await skopeoCopy(ref, `oci:${dir}`);
      const pulled = await verifyOciDir(dir);
      const amd64 = oci.manifests[0];
      // Layers and config are the input's, byte for byte; only the manifests changed.
      expect(pulled.layers).toEqual(amd64?.layers.map((l) => l.digest));
      expect(pulled.diffIds).toEqual(amd64?.layers.map((l) => l.diffId));
    }
    // The amd64 manifest Crane serves names the input's config and layers (skopeo rewrites the
    // config when it stores Docker images as OCI, so it is checked here, at the source).
    const child = doc.manifests[0]?.digest ?? "";
    const amd64 = JSON.parse((await skopeoRawManifest(`${host}/acme/web@${child}`)).toString()) as {
      mediaType: string;
      config: { mediaType: string; digest: string };
      layers: { mediaType: string; digest: string }[];
    };
    expect(amd64.mediaType).toBe(MediaType.dockerManifest);
    expect(amd64.config).toMatchObject({
      mediaType: MediaType.dockerConfig,
      digest: oci.manifests[0]?.config.digest,
    });
    expect(amd64.layers.map((l) => [l.mediaType, l.digest])).toEqual(
      oci.manifests[0]?.layers.map((l) => [MediaType.dockerLayerGzip, l.digest]),
    );
  });
});
