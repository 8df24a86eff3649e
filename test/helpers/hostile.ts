/**
 * A corpus of hostile and broken inputs, generated at test time from a small valid image:
 * each case mutates one thing. Docker archives are written as tars; OCI cases exist both as
 * a layout directory and as an OCI archive.
 */
import { mkdir, readFile, stat, symlink, truncate, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { sha256Digest, type Digest } from "../../src/image/digest.js";
import { MediaType } from "../../src/image/media-types.js";
import { directoryEntries, dockerArchiveEntries, writeOciLayoutDir } from "./image-builder.js";
import { tarBuffer, writeTar, type TarEntry } from "./tar-writer.js";

export interface HostileCase {
  label: string;
  /** What the InputError message must say (after the input path). */
  expect: RegExp;
  /** Writes the input under dir and returns its path. */
  build(dir: string): Promise<string>;
}

export type Json = Record<string, unknown>;
export type DockerManifest = { Config: string; RepoTags: string[]; Layers: string[] }[];

export async function dockerEntries(): Promise<TarEntry[]> {
  const { entries } = await dockerArchiveEntries("hostile.tar", [{ name: "acme/app", tag: "1", layers: 2 }]);
  return entries;
}

function entryData(entries: TarEntry[], name: string): string {
  const entry = entries.find((e) => e.name === name);
  if (entry?.data === undefined) throw new Error(`no data entry ${name}`);
  return Buffer.from(entry.data).toString();
}

export function replaceData(entries: TarEntry[], name: string, data: string): void {
  const entry = entries.find((e) => e.name === name);
  if (entry === undefined) throw new Error(`no entry ${name}`);
  entry.data = data;
}

export function configName(entries: TarEntry[]): string {
  const name = entries.find((e) => /^[a-f0-9]{64}\.json$/.test(e.name))?.name;
  if (name === undefined) throw new Error("no config");
  return name;
}

/** A docker archive case: mutate the entries of a valid two-layer archive. */
export function docker(
  label: string,
  expect: RegExp,
  mutate: (entries: TarEntry[]) => TarEntry[] | void,
  options: { truncateTo?: (size: number) => number; endBlocks?: boolean } = {},
): HostileCase {
  return {
    label: `docker archive: ${label}`,
    expect,
    async build(dir) {
      const entries = await dockerEntries();
      const path = join(dir, "image.tar");
      await writeTar(path, mutate(entries) ?? entries, { endBlocks: options.endBlocks ?? true });
      if (options.truncateTo !== undefined) await truncate(path, options.truncateTo((await stat(path)).size));
      return path;
    },
  };
}

export function manifestJson(mutate: (manifest: DockerManifest) => unknown) {
  return (entries: TarEntry[]): void => {
    const manifest = JSON.parse(entryData(entries, "manifest.json")) as DockerManifest;
    const result = mutate(manifest);
    replaceData(entries, "manifest.json", JSON.stringify(result ?? manifest));
  };
}

export function layerPath(entries: TarEntry[], index: number): string {
  const manifest = JSON.parse(entryData(entries, "manifest.json")) as DockerManifest;
  const path = manifest[0]?.Layers[index];
  if (path === undefined) throw new Error("no layer");
  return path;
}

/** Replace layer `index`'s layer.tar with another entry. */
export function swapLayer(index: number, make: (name: string) => TarEntry) {
  return (entries: TarEntry[]): TarEntry[] => {
    const name = layerPath(entries, index);
    return entries.map((e) => (e.name === name ? make(name) : e));
  };
}

/** Rewrites the config (renaming it to its new digest) after a change to it. */
export function dockerConfig(mutate: (config: Json) => void, keepName = false) {
  return (entries: TarEntry[]): void => {
    const name = configName(entries);
    const config = JSON.parse(entryData(entries, name)) as Json;
    mutate(config);
    const bytes = JSON.stringify(config);
    replaceData(entries, name, bytes);
    if (keepName) return;
    const renamed = `${sha256Digest(bytes).slice(7)}.json`;
    const entry = entries.find((e) => e.name === name);
    if (entry !== undefined) entry.name = renamed;
    manifestJson((m) => {
      if (m[0] !== undefined) m[0].Config = renamed;
    })(entries);
  };
}

function diffIds(config: Json): unknown[] {
  return (config.rootfs as { diff_ids: unknown[] }).diff_ids;
}

const dockerCases: HostileCase[] = [
  docker(
    "Config with ../ traversal",
    /manifest\.json references \.\.\/\.\.\/etc\/passwd, which is not in the archive/,
    manifestJson((m) => void (m[0] && (m[0].Config = "../../etc/passwd"))),
  ),
  docker(
    "absolute Config path",
    /manifest\.json references \/etc\/passwd, which is not in the archive/,
    manifestJson((m) => void (m[0] && (m[0].Config = "/etc/passwd"))),
  ),
  docker(
    "layer with ../ traversal",
    /references \.\.\/outside\/layer\.tar, which is not in the archive/,
    manifestJson((m) => void m[0]?.Layers.splice(0, 1, "../outside/layer.tar")),
  ),
  docker(
    "absolute layer path",
    /references \/etc\/shadow, which is not in the archive/,
    manifestJson((m) => void m[0]?.Layers.splice(1, 1, "/etc/shadow")),
  ),
  docker(
    "layer naming no member",
    /references nope\/layer\.tar, which is not in the archive/,
    manifestJson((m) => void m[0]?.Layers.splice(0, 1, "nope/layer.tar")),
  ),
  docker("absolute member name", /absolute member name "\/etc\/cron\.d\/evil"/, (e) => [
    ...e,
    { name: "/etc/cron.d/evil", data: "x" },
  ]),
  docker("member name with ..", /member name "\.\.\/\.\.\/evil" contains "\.\."/, (e) => [
    { name: "../../evil", data: "x" },
    ...e,
  ]),
  docker(
    "layer symlink escaping the archive",
    /symlink ".*layer\.tar" points outside the archive/,
    swapLayer(0, (name) => ({ name, type: "symlink", linkTarget: "../../../etc/passwd" })),
  ),
  docker(
    "layer hard link to a host file",
    /hard link ".*layer\.tar" points outside the archive/,
    swapLayer(1, (name) => ({ name, type: "hardlink", linkTarget: "/etc/passwd" })),
  ),
  docker("layer symlink cycle", /link cycle/, (e) => [
    ...swapLayer(0, (name) => ({ name, type: "symlink", linkTarget: "../loop" }))(e),
    { name: "loop", type: "symlink", linkTarget: layerPath(e, 0) },
  ]),
  docker(
    "layer symlink to a directory",
    /is a directory in the archive, not a file/,
    swapLayer(0, (name) => ({ name, type: "symlink", linkTarget: "." })),
  ),
  docker("duplicate manifest.json", /duplicate entry "manifest\.json"/, (e) => [
    ...e,
    { name: "./manifest.json", data: "[]" },
  ]),
  docker(
    "truncated member",
    /truncated archive: member "padding.bin" declares 5000 bytes, only \d+ remain/,
    (e) => [...e, { name: "padding.bin", data: Buffer.alloc(5000, 1) }],
    // Cut off the end blocks and 2000 bytes of the last member's content.
    { truncateTo: (size) => size - 1024 - 120 - 2000 },
  ),
  docker(
    "archive cut at a member boundary",
    /not an image archive .*it ends without the end-of-archive marker, so it may be truncated/,
    (e) => e.filter((x) => x.name !== "manifest.json" && x.name !== "repositories"),
    { endBlocks: false },
  ),
  docker("bad header checksum", /bad header checksum/, (e) => [
    ...e.slice(0, 3),
    { name: "x", data: "1", badChecksum: true },
    ...e.slice(3),
  ]),
  docker("huge pax header", /extended header of \d+ bytes/, (e) => [
    { name: "a", data: "", pax: { comment: "A".repeat(2 * 1024 * 1024) } },
    ...e,
  ]),
  docker("character device member", /character device/, (e) => [...e, { name: "dev/null", type: "char" }]),
  docker("non-JSON manifest.json", /manifest\.json is not valid JSON/, (e) =>
    replaceData(e, "manifest.json", "[{nope"),
  ),
  docker("manifest.json of the wrong shape", /manifest\.json is not a list of images/, (e) =>
    replaceData(e, "manifest.json", '{"Config":"x"}'),
  ),
  docker("empty manifest.json", /manifest\.json lists no images/, (e) =>
    replaceData(e, "manifest.json", "[]"),
  ),
  docker(
    "diff_ids count mismatch",
    /lists 1 rootfs\.diff_ids, but manifest\.json entry 1 has 2 layers/,
    dockerConfig((c) => void diffIds(c).pop()),
  ),
  docker(
    "config not matching its name",
    /does not match the digest in its name/,
    dockerConfig((c) => (c.os = "plan9"), true),
  ),
  docker(
    "malformed diff_id",
    /has malformed digest "sha256:xyz"/,
    dockerConfig((c) => void diffIds(c).splice(0, 1, "sha256:xyz")),
  ),
  docker(
    "md5 diff_id",
    /unsupported algorithm "md5"/,
    dockerConfig((c) => void diffIds(c).splice(0, 1, `md5:${"a".repeat(32)}`)),
  ),
  docker(
    "upper-case diff_id",
    /malformed digest "sha256:A{64}"/,
    dockerConfig((c) => void diffIds(c).splice(1, 1, `sha256:${"A".repeat(64)}`)),
  ),
  docker("pre-1.10 format with a json naming another id", /says its id is f{64}, not/, (e) =>
    e
      .filter((x) => x.name !== "manifest.json")
      .map((x) =>
        /^[a-f0-9]{64}\/json$/.test(x.name) ? { ...x, data: JSON.stringify({ id: "f".repeat(64) }) } : x,
      ),
  ),
  docker("Pulp export with a non-id directory", /"web\/abc" is not named by an image id/, () => [
    { name: "/", type: "directory" },
    { name: "web/", type: "directory" },
    { name: "web/abc/json", data: "{}" },
    { name: "acme-app.json", data: "{}" },
  ]),
  docker("unrelated tar", /a tar archive, but not an image archive/, () => [
    { name: "README", data: "hello" },
  ]),
];

function raw(
  label: string,
  expect: RegExp,
  bytes: () => Promise<Buffer> | Buffer,
  name = "input.tar",
): HostileCase {
  return {
    label,
    expect,
    async build(dir) {
      const path = join(dir, name);
      await writeFile(path, await bytes());
      return path;
    },
  };
}

const NOT_TAR = /not a tar archive or OCI layout directory/;
const rawCases: HostileCase[] = [
  raw("random bytes", NOT_TAR, () =>
    Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) % 256)),
  ),
  raw("a JSON file", NOT_TAR, () =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }).padEnd(600)),
  ),
  raw("an empty file", NOT_TAR, () => Buffer.alloc(0)),
  raw(
    "gzip input",
    /is gzip-compressed; decompress it first \(gunzip image\.tar\.gz\)/,
    async () => gzipSync(tarBuffer((await dockerEntries()).filter((e) => e.source === undefined))),
    "image.tar.gz",
  ),
  {
    label: "a directory that is not a layout",
    expect: /not an OCI image layout: no oci-layout file/,
    build: async (dir) => {
      await mkdir(join(dir, "photos"));
      return join(dir, "photos");
    },
  },
  {
    label: "a missing path",
    expect: /no such file or directory/,
    build: (dir) => Promise.resolve(join(dir, "missing.tar")),
  },
];

export async function readJson(dir: string, relative: string): Promise<Json> {
  return JSON.parse(await readFile(join(dir, relative), "utf8")) as Json;
}

export async function writeBlob(
  dir: string,
  content: string | Buffer,
): Promise<{ digest: Digest; size: number }> {
  const bytes = Buffer.from(content);
  const digest = sha256Digest(bytes);
  await writeFile(join(dir, "blobs", "sha256", digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

export function blob(digest: unknown): string {
  return join("blobs", "sha256", String(digest).slice(7));
}

export async function indexEntry(dir: string, mutate: (entry: Json) => void): Promise<void> {
  const index = await readJson(dir, "index.json");
  const entry = (index.manifests as Json[])[0];
  if (entry !== undefined) mutate(entry);
  await writeFile(join(dir, "index.json"), JSON.stringify(index));
}

/** Rewrites the manifest that index.json points at and re-points index.json at the result. */
export async function manifestDoc(dir: string, mutate: (manifest: Json) => unknown): Promise<void> {
  const entry = ((await readJson(dir, "index.json")).manifests as Json[])[0] ?? {};
  const manifest = await readJson(dir, blob(entry.digest));
  await mutate(manifest);
  const { digest, size } = await writeBlob(dir, JSON.stringify(manifest));
  await indexEntry(dir, (e) => Object.assign(e, { digest, size }));
}

export function layers(manifest: Json): Json[] {
  return manifest.layers as Json[];
}

export function oci(
  label: string,
  expect: RegExp,
  mutate: (dir: string) => Promise<void>,
  only?: "dir" | "tar",
): HostileCase[] {
  return (["dir", "tar"] as const)
    .filter((variant) => only === undefined || only === variant)
    .map((variant) => ({
      label: `OCI layout ${variant}: ${label}`,
      expect,
      async build(dir: string) {
        const layout = join(dir, "layout");
        await writeOciLayoutDir(layout, { name: "acme/app", tag: "1", layers: 2 });
        await mutate(layout);
        if (variant === "dir") return layout;
        const path = join(dir, "layout.tar");
        await writeTar(path, await directoryEntries(layout));
        return path;
      },
    }));
}

const ociCases: HostileCase[] = [
  ...oci("wrong layout version", /imageLayoutVersion is "2\.0\.0", expected "1\.0\.0"/, (d) =>
    writeFile(join(d, "oci-layout"), '{"imageLayoutVersion":"2.0.0"}'),
  ),
  ...oci("non-JSON index.json", /index\.json is not valid JSON/, (d) =>
    writeFile(join(d, "index.json"), "{{{"),
  ),
  ...oci("index.json with config and layers", /index\.json is not an image index/, (d) =>
    indexEntry(d, () => undefined).then(async () => {
      const index = await readJson(d, "index.json");
      await writeFile(join(d, "index.json"), JSON.stringify({ ...index, config: {}, layers: [] }));
    }),
  ),
  ...oci("manifest posing as an index", /is not an index \(it needs manifests/, (d) =>
    manifestDoc(d, (m) => delete m.mediaType).then(() =>
      indexEntry(d, (e) => (e.mediaType = MediaType.ociIndex)),
    ),
  ),
  ...oci("index posing as a manifest", /is not an image manifest \(it needs config and layers/, async (d) => {
    const index = await writeBlob(d, JSON.stringify({ schemaVersion: 2, manifests: [] }));
    await indexEntry(d, (e) => Object.assign(e, index));
  }),
  ...oci(
    "mediaType field disagreeing with the descriptor",
    /says mediaType "application\/vnd\.docker\.distribution\.manifest\.v2\+json", but its descriptor says/,
    (d) => manifestDoc(d, (m) => (m.mediaType = MediaType.dockerManifest)),
  ),
  ...oci("manifest digest mismatch", /does not match its digest \(index\.json entry 1 says/, async (d) => {
    const entry = ((await readJson(d, "index.json")).manifests as Json[])[0] ?? {};
    const path = join(d, blob(entry.digest));
    await writeFile(path, (await readFile(path, "utf8")) + " ");
    const size = (await readFile(path)).length;
    await indexEntry(d, (e) => (e.size = size));
  }),
  ...oci(
    "config digest mismatch",
    /does not match its digest \(the config of blobs\/sha256\/[a-f0-9]{64} says/,
    (d) =>
      manifestDoc(d, async (m) => {
        const config = m.config as Json;
        const path = join(d, blob(config.digest));
        const text = (await readFile(path, "utf8")).replace('"os":"linux"', '"os":"hurd!"');
        await writeFile(path, text);
      }),
  ),
  ...oci("malformed digest", /index\.json entry 1 has malformed digest "sha256:xyz"/, (d) =>
    indexEntry(d, (e) => (e.digest = "sha256:xyz")),
  ),
  ...oci("md5 digest", /unsupported algorithm "md5"/, (d) =>
    manifestDoc(d, (m) => void (layers(m)[0] && (layers(m)[0]!.digest = `md5:${"0".repeat(32)}`))),
  ),
  ...oci("upper-case digest", /malformed digest "sha256:[A-F0-9]{64}"/, (d) =>
    manifestDoc(
      d,
      (m) =>
        void ((m.config as Json).digest = String((m.config as Json).digest)
          .toUpperCase()
          .replace("SHA256", "sha256")),
    ),
  ),
  ...oci("unknown media type", /has unknown media type "application\/x-evil"/, (d) =>
    manifestDoc(d, (m) => void (layers(m)[1] && (layers(m)[1]!.mediaType = "application/x-evil"))),
  ),
  ...oci(
    "missing layer blob",
    /layer 2 of blobs\/sha256\/[a-f0-9]{64} refers to blobs\/sha256\/[a-f0-9]{64}, which is missing/,
    async (d) => {
      const entry = ((await readJson(d, "index.json")).manifests as Json[])[0] ?? {};
      await unlink(join(d, blob(layers(await readJson(d, blob(entry.digest)))[1]?.digest)));
    },
  ),
  ...oci(
    "layer blob of the wrong size",
    /is \d+ bytes, but layer 1 of blobs\/sha256\/[a-f0-9]{64} says 7/,
    (d) => manifestDoc(d, (m) => void (layers(m)[0] && (layers(m)[0]!.size = 7))),
  ),
  ...oci(
    "blob symlink escaping the layout",
    /(symlink pointing outside the layout directory|points outside the archive)/,
    async (d) => {
      const entry = ((await readJson(d, "index.json")).manifests as Json[])[0] ?? {};
      const target = join(d, blob(layers(await readJson(d, blob(entry.digest)))[0]?.digest));
      await unlink(target);
      await symlink("/etc/passwd", target);
    },
  ),
  ...oci("nested index", /is a nested index/, async (d) => {
    const entry = ((await readJson(d, "index.json")).manifests as Json[])[0] ?? {};
    const inner = await writeBlob(
      d,
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [entry] }),
    );
    const outer = await writeBlob(
      d,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [{ mediaType: MediaType.ociIndex, ...inner }],
      }),
    );
    await indexEntry(d, (e) => Object.assign(e, { mediaType: MediaType.ociIndex, ...outer }));
  }),
  ...oci(
    "manifest declaring a huge size",
    /declares 99999999999 bytes, more than the 4194304-byte limit/,
    (d) => indexEntry(d, (e) => (e.size = 99_999_999_999)),
  ),
];

export const hostileCases: HostileCase[] = [...dockerCases, ...rawCases, ...ociCases];

/** Inputs whose names break the grammar: readable, but the bad names are dropped with a warning. */
export const badNameCases: HostileCase[] = [
  docker(
    "RepoTags breaking the grammar",
    /RepoTags/,
    manifestJson(
      (m) =>
        void (m[0] && (m[0].RepoTags = ["Acme/App:1", "acme/app:bad tag!", "../../etc:x", "acme//app:1"])),
    ),
  ),
  ...oci("annotation breaking the grammar", /io\.containerd|ref\.name|index\.json entry 1/, (d) =>
    indexEntry(
      d,
      (e) =>
        (e.annotations = {
          "io.containerd.image.name": "UPPER/Case:1",
          "org.opencontainers.image.ref.name": "not a ref/../x",
        }),
    ),
  ),
];
