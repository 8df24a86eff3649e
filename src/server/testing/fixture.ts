import { execFileSync } from "node:child_process";
import { request } from "node:http";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyPublication, type Publication } from "../../crane/publication.js";
import { serializeMetadata } from "../../crane/serialize.js";
import { sha256Digest, type Digest } from "../../image/digest.js";
import { MediaType } from "../../image/media-types.js";

/** A registry app repo in a temp dir: data/, manifests/, content/{v1,v2}/ and registry.conf. */
export interface AppRepo {
  root: string;
  dataDir: string;
  manifestDir: string;
  contentV2: string;
  contentV1: string;
  configPath: string;
  cleanup(): Promise<void>;
}

export async function makeAppRepo(
  config: (repo: Omit<AppRepo, "configPath" | "cleanup">) => string,
): Promise<AppRepo> {
  const root = await mkdtemp(join(tmpdir(), "raas-server-"));
  const paths = {
    root,
    dataDir: join(root, "data"),
    manifestDir: join(root, "manifests"),
    contentV2: join(root, "content", "v2"),
    contentV1: join(root, "content", "v1"),
  };
  for (const dir of [paths.dataDir, paths.manifestDir, paths.contentV2, paths.contentV1]) {
    await mkdir(dir, { recursive: true });
  }
  const configPath = join(root, "registry.conf");
  await writeFile(configPath, config(paths));
  return { ...paths, configPath, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Git in an app repo's folder, committing as a fixed identity (the follow-mode tests make it a repository). */
export interface RepoGit {
  /** Run git there; its trimmed stdout. */
  git(...args: string[]): string;
  /** Commit the whole tree (an empty commit too); the new commit's id. */
  commitAll(message: string): string;
}

export function repoGit(root: string): RepoGit {
  const git = (...args: string[]) =>
    execFileSync("git", args, {
      cwd: root,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@t",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@t",
      },
    })
      .toString()
      .trim();
  return {
    git,
    commitAll: (message) => {
      git("add", "--all");
      git("commit", "--quiet", "--allow-empty", "-m", message);
      return git("rev-parse", "HEAD");
    },
  };
}

export interface BuiltImage {
  publication: Publication;
  manifestBytes: Map<Digest, Buffer>;
  blobBytes: Map<Digest, Buffer>;
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

function image(layers: Buffer[], platform?: { os: string; architecture: string }) {
  const config = json({
    architecture: platform?.architecture ?? "amd64",
    os: "linux",
    rootfs: { type: "layers" },
  });
  const layerDescs = layers.map((l) => ({
    mediaType: MediaType.dockerLayerGzip,
    size: l.length,
    digest: sha256Digest(l),
  }));
  const manifest = json({
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, size: config.length, digest: sha256Digest(config) },
    layers: layerDescs,
  });
  return { config, manifest, layers };
}

/**
 * A real little multi-arch image (amd64 + arm64 under a manifest list, plus a single image),
 * with bytes whose digests are what the metadata says.
 */
export function buildImages(name: string, repository: string, seed: string): BuiltImage {
  const manifestBytes = new Map<Digest, Buffer>();
  const blobBytes = new Map<Digest, Buffer>();
  const pub: Publication = {
    name,
    repository,
    url: `http://127.0.0.1:1/bucket/${repository}/`,
    manifests: [],
    blobs: [],
    tags: {},
  };
  const add = (layers: Buffer[], platform?: { os: string; architecture: string }) => {
    const img = image(layers, platform);
    const digest = sha256Digest(img.manifest);
    manifestBytes.set(digest, img.manifest);
    const refs = [sha256Digest(img.config), ...img.layers.map((l) => sha256Digest(l))];
    for (const blob of [img.config, ...img.layers]) {
      blobBytes.set(sha256Digest(blob), blob);
      pub.blobs.push({ digest: sha256Digest(blob), size: blob.length });
    }
    pub.manifests.push({
      digest,
      mediaType: MediaType.dockerManifest,
      size: img.manifest.length,
      refs,
      ...(platform === undefined ? {} : { platform }),
    });
    return { digest, size: img.manifest.length };
  };
  const single = add([Buffer.from(`${seed} layer one `.repeat(100)), Buffer.from(`${seed} layer two`)]);
  const amd = add([Buffer.from(`${seed} amd64 layer`)], { os: "linux", architecture: "amd64" });
  const arm = add([Buffer.from(`${seed} arm64 layer`)], { os: "linux", architecture: "arm64" });
  const list = json({
    schemaVersion: 2,
    mediaType: MediaType.dockerManifestList,
    manifests: [
      { mediaType: MediaType.dockerManifest, ...arm, platform: { os: "linux", architecture: "arm64" } },
      { mediaType: MediaType.dockerManifest, ...amd, platform: { os: "linux", architecture: "amd64" } },
    ],
  });
  const listDigest = sha256Digest(list);
  manifestBytes.set(listDigest, list);
  pub.manifests.push({
    digest: listDigest,
    mediaType: MediaType.dockerManifestList,
    size: list.length,
    refs: [arm.digest, amd.digest],
  });
  pub.tags = { latest: single.digest, "1.0": single.digest, multi: listDigest };
  return { publication: pub, manifestBytes, blobBytes };
}

/** Write an image's metadata, manifests (app repo) and blobs (serve_content dir). */
export async function publish(repo: AppRepo, fileName: string, built: BuiltImage): Promise<void> {
  const meta = applyPublication(undefined, built.publication, new Date("2024-01-01T00:00:00Z"));
  await writeFile(join(repo.dataDir, fileName), serializeMetadata(meta));
  const repository = built.publication.repository;
  await mkdir(join(repo.manifestDir, repository), { recursive: true });
  await mkdir(join(repo.contentV2, repository, "blobs"), { recursive: true });
  for (const [digest, bytes] of built.manifestBytes) {
    await writeFile(join(repo.manifestDir, repository, digest), bytes);
  }
  for (const [digest, bytes] of built.blobBytes) {
    await writeFile(join(repo.contentV2, repository, "blobs", digest), bytes);
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request whose path goes out exactly as given (fetch would normalise `..` away). */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}
