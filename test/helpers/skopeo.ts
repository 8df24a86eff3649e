import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** `skopeo copy docker://<ref> <dest>` against a plain-HTTP loopback registry. */
export async function skopeoCopy(ref: string, dest: string): Promise<void> {
  await run("skopeo", ["copy", "--src-tls-verify=false", "--retry-times", "0", `docker://${ref}`, dest], {
    timeout: 120_000,
  });
}

export async function skopeoInspectDigest(ref: string): Promise<string> {
  const { stdout } = await run(
    "skopeo",
    ["inspect", "--tls-verify=false", "--format", "{{.Digest}}", `docker://${ref}`],
    {
      timeout: 60_000,
    },
  );
  return stdout.trim();
}

export async function skopeoRawManifest(ref: string): Promise<Buffer> {
  const { stdout } = await run("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${ref}`], {
    timeout: 60_000,
    encoding: "buffer",
  });
  return stdout;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Check every blob of an `oci:` directory written by skopeo hashes to its name; returns the
 * layer digests of the (single) image manifest it holds and the diff_ids of its config.
 * skopeo may compress uncompressed layers on the way, so diff_ids are what prove the content.
 */
export async function verifyOciDir(
  dir: string,
): Promise<{ blobs: string[]; layers: string[]; diffIds: string[] }> {
  const blobsDir = join(dir, "blobs", "sha256");
  const names = await readdir(blobsDir);
  for (const name of names) {
    const actual = await sha256File(join(blobsDir, name));
    if (actual !== name) throw new Error(`${dir}: blob ${name} hashes to ${actual}`);
  }
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
    manifests: { digest: string }[];
  };
  const top = index.manifests[0]?.digest;
  if (top === undefined) throw new Error(`${dir}: empty index.json`);
  const manifest = JSON.parse(await readFile(join(blobsDir, top.slice(7)), "utf8")) as {
    layers?: { digest: string }[];
    config?: { digest: string };
  };
  const configDigest = manifest.config?.digest;
  if (configDigest === undefined) throw new Error(`${dir}: manifest ${top} has no config`);
  const config = JSON.parse(await readFile(join(blobsDir, configDigest.slice(7)), "utf8")) as {
    rootfs?: { diff_ids?: string[] };
  };
  return {
    blobs: names.map((n) => `sha256:${n}`),
    layers: (manifest.layers ?? []).map((l) => l.digest),
    diffIds: config.rootfs?.diff_ids ?? [],
  };
}

/**
 * `skopeo copy` of `source` (an `oci:` or `dir:` reference) into `docker://<dest>` on a
 * plain-HTTP loopback registry as `creds`, without retries (`all`: every image of an index).
 * Resolves with "" when it succeeded, and with skopeo's stderr when it failed.
 */
export async function skopeoPush(
  source: string,
  dest: string,
  options: { creds: string; all?: boolean; timeout?: number },
): Promise<string> {
  const args = ["copy", ...(options.all === true ? ["--all"] : []), "--dest-tls-verify=false"];
  args.push("--dest-creds", options.creds, "--retry-times", "0", source, `docker://${dest}`);
  return run("skopeo", args, { timeout: options.timeout ?? 120_000 }).then(
    () => "",
    (err: { stderr?: string }) => err.stderr || "skopeo copy failed",
  );
}

/**
 * skopeo pulls `<host>/<name>:<tag>` into `<dir>/pulled-tag`, asks the registry for the tag's
 * digest, and pulls `<name>@<digest>` into `<dir>/pulled-digest`; both are checked as
 * verifyOciDir checks them, and returned with the digest.
 */
export async function pullByTagAndDigest(
  host: string,
  name: string,
  tag: string,
  dir: string,
  timeout = 120_000,
) {
  const copy = (ref: string, out: string) =>
    run("skopeo", ["copy", "--src-tls-verify=false", `docker://${host}/${ref}`, `oci:${out}:x`], { timeout });
  await copy(`${name}:${tag}`, join(dir, "pulled-tag"));
  const byTag = await verifyOciDir(join(dir, "pulled-tag"));
  const { stdout } = await run(
    "skopeo",
    ["inspect", "--tls-verify=false", "--format", "{{.Digest}}", `docker://${host}/${name}:${tag}`],
    { timeout },
  );
  const digest = stdout.trim();
  await copy(`${name}@${digest}`, join(dir, "pulled-digest"));
  return { digest, byTag, byDigest: await verifyOciDir(join(dir, "pulled-digest")) };
}
