/**
 * A registry client that pulls the way skopeo does and trusts nothing: resolve a tag to a
 * manifest, check the manifest against its digest, then GET every blob it references
 * (following redirects to storage) and hash it. Kept small and dependency-free so a test can
 * run it in a tight loop while pushes are being killed around it.
 */
import { createHash } from "node:crypto";

const ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export type PullResult =
  { state: "absent"; status: number } | { state: "complete"; digest: string; blobs: number };

/** Thrown when the registry served something a client would choke on. */
export class TornPullError extends Error {
  override name = "TornPullError";
}

interface ManifestDoc {
  config?: { digest: string };
  layers?: { digest: string }[];
  manifests?: { digest: string }[];
}

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

async function getBytes(
  url: string,
  accept?: string,
): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const response = await fetch(url, {
    headers: accept === undefined ? {} : { Accept: accept },
    signal: AbortSignal.timeout(20_000),
  });
  return {
    status: response.status,
    bytes: Buffer.from(await response.arrayBuffer()),
    headers: response.headers,
  };
}

/**
 * Pull `name:reference` completely. A tag the registry does not know (404) is "absent"; any
 * served manifest must be whole: right digest, and every blob present with the right bytes.
 */
export async function pullVerified(registry: string, name: string, reference: string): Promise<PullResult> {
  const top = await getBytes(`${registry}/v2/${name}/manifests/${reference}`, ACCEPT);
  if (top.status === 404) return { state: "absent", status: 404 };
  if (top.status !== 200) throw new TornPullError(`${name}:${reference}: manifest answered ${top.status}`);
  const digest = sha256(top.bytes);
  const header = top.headers.get("docker-content-digest");
  if (header !== null && header !== digest) {
    throw new TornPullError(`${name}:${reference}: Docker-Content-Digest ${header}, bytes hash to ${digest}`);
  }
  let blobs = 0;
  const visit = async (bytes: Buffer, where: string): Promise<void> => {
    const doc = JSON.parse(bytes.toString("utf8")) as ManifestDoc;
    for (const child of doc.manifests ?? []) {
      const sub = await getBytes(`${registry}/v2/${name}/manifests/${child.digest}`, ACCEPT);
      if (sub.status !== 200 || sha256(sub.bytes) !== child.digest) {
        throw new TornPullError(`${where} lists ${child.digest}, which answered ${sub.status}`);
      }
      await visit(sub.bytes, child.digest);
    }
    for (const blob of [...(doc.config === undefined ? [] : [doc.config]), ...(doc.layers ?? [])]) {
      const got = await getBytes(`${registry}/v2/${name}/blobs/${blob.digest}`);
      if (got.status !== 200) {
        throw new TornPullError(`${where} references ${blob.digest}: HTTP ${got.status}`);
      }
      const actual = sha256(got.bytes);
      if (actual !== blob.digest) {
        throw new TornPullError(`${where}: blob ${blob.digest} hashes to ${actual}`);
      }
      blobs += 1;
    }
  };
  await visit(top.bytes, `${name}:${reference}`);
  return { state: "complete", digest, blobs };
}

/** The tags the registry lists for `name` (none when the repository is unknown). */
export async function listTags(registry: string, name: string): Promise<string[]> {
  const got = await getBytes(`${registry}/v2/${name}/tags/list`);
  if (got.status === 404) return [];
  if (got.status !== 200) throw new TornPullError(`${name}: tags/list answered ${got.status}`);
  return (JSON.parse(got.bytes.toString("utf8")) as { tags?: string[] | null }).tags ?? [];
}
