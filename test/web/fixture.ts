import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ensureKeys } from "../../src/auth/index.js";
import { fixtureText } from "../../src/auth/testing/policy-fixture.js";
import type { Publication } from "../../src/crane/publication.js";
import { sha256Digest, type Digest } from "../../src/image/digest.js";
import { MediaType } from "../../src/image/media-types.js";
import {
  buildImages,
  makeAppRepo,
  publish,
  type AppRepo,
  type BuiltImage,
} from "../../src/server/testing/fixture.js";

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

export const HOSTILE = {
  label: `<script>alert("label")</script>`,
  quote: `"'><img src=x onerror=alert(1)>`,
  os: "<script>alert('os')</script>",
  variant: `v8"onmouseover="alert(1)`,
  vendorUrl: "https://cdn.vendor.example/layers/abc?token=VENDOR-SECRET-TOKEN",
  foreignUrl: "https://foreign.example/base.tar.gz?sig=FOREIGN-SECRET",
  craneRef: "<script>alert('crane')</script>",
} as const;

export interface WebApp {
  repo: AppRepo;
  acme: BuiltImage;
  hostile: BuiltImage;
  cleanup(): Promise<void>;
}

/** One image whose config and layers are given; `vendor` layers are recorded as hosted elsewhere. */
function addImage(
  pub: Publication,
  built: BuiltImage,
  config: Record<string, unknown>,
  layers: { bytes: Buffer; vendorUrl?: string; foreignUrls?: string[] }[],
  platform?: { os: string; architecture: string; variant?: string },
): { digest: Digest; size: number } {
  const configBytes = json(config);
  const descs = layers.map((l) => ({
    mediaType: l.foreignUrls === undefined ? MediaType.dockerLayerGzip : MediaType.dockerForeignLayerGzip,
    size: l.bytes.length,
    digest: sha256Digest(l.bytes),
    ...(l.foreignUrls === undefined ? {} : { urls: l.foreignUrls }),
  }));
  const manifest = json({
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: {
      mediaType: MediaType.dockerConfig,
      size: configBytes.length,
      digest: sha256Digest(configBytes),
    },
    layers: descs,
  });
  const digest = sha256Digest(manifest);
  built.manifestBytes.set(digest, manifest);
  built.blobBytes.set(sha256Digest(configBytes), configBytes);
  pub.blobs.push({
    digest: sha256Digest(configBytes),
    size: configBytes.length,
    mediaType: MediaType.dockerConfig,
  });
  for (const l of layers) {
    const d = sha256Digest(l.bytes);
    if (l.vendorUrl === undefined) built.blobBytes.set(d, l.bytes);
    pub.blobs.push({
      digest: d,
      size: l.bytes.length,
      ...(l.vendorUrl === undefined ? {} : { url: l.vendorUrl }),
    });
  }
  pub.manifests.push({
    digest,
    mediaType: MediaType.dockerManifest,
    size: manifest.length,
    refs: [sha256Digest(configBytes), ...descs.map((d) => d.digest)],
    ...(platform === undefined ? {} : { platform }),
  });
  return { digest, size: manifest.length };
}

/** A repository whose every free-text field is hostile: labels, env, platforms, vendor URLs. */
export function hostileImages(): BuiltImage {
  const built: BuiltImage = {
    publication: undefined as never,
    manifestBytes: new Map(),
    blobBytes: new Map(),
  };
  const pub: Publication = {
    name: "hostile/app",
    repository: "hostile-app",
    url: "https://storage.internal.example/private-bucket/hostile-app/",
    manifests: [],
    blobs: [],
    tags: {},
  };
  built.publication = pub;
  const single = addImage(
    pub,
    built,
    {
      architecture: "amd64",
      os: "linux",
      created: "2025-03-04T05:06:07Z",
      author: HOSTILE.quote,
      config: {
        Env: [`EVIL=${HOSTILE.label}`, "PATH=/usr/bin"],
        Cmd: ["/bin/sh", "-c", HOSTILE.quote],
        Labels: JSON.parse(
          JSON.stringify({ [HOSTILE.label]: HOSTILE.quote, "org.example.vendor": "ACME" }).replace(
            "{",
            '{"__proto__":"proto-label",',
          ),
        ) as Record<string, string>,
        ExposedPorts: { "8080/tcp": {} },
      },
      rootfs: { type: "layers", diff_ids: [] },
    },
    [
      { bytes: Buffer.from("hostile base layer"), foreignUrls: [HOSTILE.foreignUrl] },
      { bytes: Buffer.from("hostile vendor layer"), vendorUrl: HOSTILE.vendorUrl },
      { bytes: Buffer.from("hostile own layer") },
    ],
  );
  const a = addImage(
    pub,
    built,
    { architecture: "arm", os: HOSTILE.os, created: "2025-01-01T00:00:00Z" },
    [{ bytes: Buffer.from("h arm") }],
    {
      os: HOSTILE.os,
      architecture: "arm",
      variant: HOSTILE.variant,
    },
  );
  const b = addImage(
    pub,
    built,
    { architecture: "amd64", os: "linux", created: "2025-02-01T00:00:00Z" },
    [{ bytes: Buffer.from("h amd") }],
    {
      os: "linux",
      architecture: "amd64",
    },
  );
  const list = json({
    schemaVersion: 2,
    mediaType: MediaType.dockerManifestList,
    manifests: [
      {
        mediaType: MediaType.dockerManifest,
        ...a,
        platform: { os: HOSTILE.os, architecture: "arm", variant: HOSTILE.variant },
      },
      { mediaType: MediaType.dockerManifest, ...b, platform: { os: "linux", architecture: "amd64" } },
    ],
  });
  const listDigest = sha256Digest(list);
  built.manifestBytes.set(listDigest, list);
  pub.manifests.push({
    digest: listDigest,
    mediaType: MediaType.dockerManifestList,
    size: list.length,
    refs: [a.digest, b.digest],
  });
  // JSON.parse makes `__proto__` an own key, as it is when the metadata file is read.
  pub.tags = JSON.parse(
    JSON.stringify({ constructor: single.digest, "v1.0": single.digest, multi: listDigest }).replace(
      "{",
      `{"__proto__":"${single.digest}",`,
    ),
  ) as Record<string, Digest>;
  return built;
}

export interface WebAppOptions {
  /** Extra generated repositories `bulk/repo-<n>` (benchmark). */
  repositories?: number;
  /** Tags of `bulk/many-tags` (benchmark). */
  tags?: number;
}

/**
 * An app repo for the web page: acme/app (the server tests' image), hostile/app, a plain Crane v3
 * file with a hostile reference, and a protected repository that must never show.
 */
export async function makeWebApp(options: WebAppOptions = {}): Promise<WebApp> {
  const repo = await makeAppRepo(
    () =>
      `[general]\ndata_dir: data\ndata_dir_polling_interval: 60\n[serve_content]\nenable: true\n` +
      `content_dir_v1: content/v1\ncontent_dir_v2: content/v2\nuse_x_sendfile: false\n[raas]\nmanifest_dir = manifests\naccess_log = false\n`,
  );
  const acme = buildImages("acme/app", "acme-app", "acme");
  await publish(repo, "acme-acme-app.json", acme);
  const hostile = hostileImages();
  await publish(repo, "hostile-hostile-app.json", hostile);
  await writeFile(
    join(repo.dataDir, "legacy-tool.json"),
    JSON.stringify({
      type: "pulp-docker-redirect",
      version: 3,
      repository: "legacy-tool",
      "repo-registry-id": "legacy/tool",
      url: "https://storage.internal.example/legacy-tool/",
      schema2_data: [HOSTILE.craneRef, "1.0"],
    }),
  );
  const secret = buildImages("secret/thing", "secret-thing", "secret");
  await publish(repo, "secret-thing.json", secret);
  const file = join(repo.dataDir, "secret-thing.json");
  const meta = JSON.parse(await import("node:fs/promises").then((fs) => fs.readFile(file, "utf8"))) as Record<
    string,
    unknown
  >;
  await writeFile(file, JSON.stringify({ ...meta, protected: true }));

  for (let i = 0; i < (options.repositories ?? 0); i++) {
    const name = `bulk/repo-${String(i).padStart(5, "0")}`;
    const built = buildImages(name, `bulk-repo-${i}`, `bulk${i}`);
    await publish(repo, `bulk-repo-${i}.json`, built);
  }
  if (options.tags !== undefined) {
    const built = buildImages("bulk/many-tags", "bulk-many-tags", "many");
    const latest = built.publication.tags.latest as Digest;
    const multi = built.publication.tags.multi as Digest;
    for (let i = 0; i < options.tags; i++) built.publication.tags[`1.${i}.0`] = i % 2 === 0 ? latest : multi;
    await publish(repo, "bulk-many-tags.json", built);
  }
  await mkdir(repo.contentV1, { recursive: true });
  return { repo, acme, hostile, cleanup: () => repo.cleanup() };
}

/** Repositories of the login app: one anyone may pull, one for alice only, one for app bigdata. */
export const LOGIN_REPOS = {
  public: "public/base",
  alice: "users/alice/tool",
  app: "apps/bigdata/server",
} as const;

export interface LoginApp {
  repo: AppRepo;
  images: Map<string, BuiltImage>;
  cleanup(): Promise<void>;
}

/**
 * An app repo with `[auth] mode = local`: the policy of the auth tests (src/auth/testing), signing
 * keys in a state dir, serve_content, and pull statistics flushed every `flush` (a duration).
 * `port` is where the server will listen, for the token realm.
 */
export async function makeLoginApp(port: number, flush = "300ms"): Promise<LoginApp> {
  const repo = await makeAppRepo((paths) =>
    [
      "[general]",
      "data_dir = data",
      "data_dir_polling_interval = 60",
      "[serve_content]",
      "enable = true",
      "content_dir_v1 = content/v1",
      "content_dir_v2 = content/v2",
      "use_x_sendfile = false",
      "[raas]",
      "manifest_dir = manifests",
      "access_log = true",
      "[auth]",
      "mode = local",
      `realm = http://127.0.0.1:${port}/token`,
      "service = raas-web-test",
      `key_dir = ${join(paths.root, "state")}`,
      `policy_file = ${join(paths.root, "access.yaml")}`,
      "[stats]",
      `flush_interval = ${flush}`,
      "",
    ].join("\n"),
  );
  await writeFile(join(repo.root, "access.yaml"), await fixtureText());
  await ensureKeys(join(repo.root, "state"));
  const images = new Map<string, BuiltImage>();
  for (const name of Object.values(LOGIN_REPOS)) {
    const dir = name.replaceAll("/", "-");
    const built = buildImages(name, dir, name);
    images.set(name, built);
    await publish(repo, `${dir}.json`, built);
  }
  return { repo, images, cleanup: () => repo.cleanup() };
}
