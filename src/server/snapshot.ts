import { randomUUID } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import type { Policy } from "../auth/index.js";
import { loadPolicyFile } from "../auth/index.js";
import type { OutgoingHttpHeaders } from "node:http";
import { dirname, join } from "node:path";
import { APPROVALS_FILE, parseApprovals, type Approvals } from "../environments/approvals.js";
import { loadMetadataDir, type LogFn, type MetadataIndex } from "../crane/load.js";
import type { BlobRecord } from "../crane/types.js";
import { fingerprint, walkTree } from "../crane/walk.js";
import { sha256Digest, type Digest } from "../image/digest.js";
import { UserError } from "../errors.js";
import type { ServerConfig } from "./config.js";
import type { PreparedRedirect } from "./http.js";

/**
 * A manifest ready to send: its exact bytes and its complete response headers, built once per
 * load so the hot path (a manifest GET) allocates nothing but the response itself.
 */
export interface ServedManifest {
  bytes: Buffer;
  etag: string;
  headers: OutgoingHttpHeaders;
}

/** Everything a request needs, loaded together and swapped in one assignment. */
export interface Snapshot {
  index: MetadataIndex;
  /** Manifests whose exact bytes are in the app repo, keyed by `<repository>/<digest>`. */
  manifests: Map<string, ServedManifest>;
  fingerprint: string;
  loadedAt: Date;
  /** access.yaml of the deployed app (`[auth] mode = local`), loaded with the metadata it guards. */
  policy?: Policy;
  /** environments.json of the deployed app: which environments each tag passed through. */
  approvals?: Approvals;
  /**
   * Redirects of public blobs already asked for, by their metadata record (raasBlob): made on
   * the first request, sent as they are after that. At most BLOB_REDIRECTS_MAX; when full it
   * starts again empty, so the blobs asked for since then are the ones kept.
   */
  blobRedirects: Map<BlobRecord, PreparedRedirect>;
}

/** Redirects kept per snapshot at most; about 1 KB each (headers and Crane's HTML body). */
export const BLOB_REDIRECTS_MAX = 4096;
/** A redirect whose body is larger (a very long URL in the metadata) is made per request. */
export const BLOB_REDIRECT_BODY_MAX = 8192;

/**
 * Keep `prepared` for `record` and return what to send: the kept copy, whose body has a memory
 * block of its own. Node cuts a small Buffer from a shared 8 KB block, and a kept slice would
 * keep its whole block alive.
 */
export function keepBlobRedirect(
  snap: Snapshot,
  record: BlobRecord,
  prepared: PreparedRedirect,
): PreparedRedirect {
  if (prepared.body.length > BLOB_REDIRECT_BODY_MAX) return prepared;
  const body = Buffer.allocUnsafeSlow(prepared.body.length);
  prepared.body.copy(body);
  const kept = { ...prepared, body };
  if (snap.blobRedirects.size >= BLOB_REDIRECTS_MAX) snap.blobRedirects.clear();
  snap.blobRedirects.set(record, kept);
  return kept;
}

/** environments.json sits beside the data directory, at the top of the app repository. */
export const approvalsFile = (config: ServerConfig) => join(dirname(config.dataDir), APPROVALS_FILE);

export const manifestKey = (repository: string, digest: Digest) => `${repository}/${digest}`;

export function emptySnapshot(): Snapshot {
  const walk = { files: [], dirs: [], problems: [] };
  return {
    index: { v1: new Map(), v2: new Map(), images: new Map(), files: [], walk },
    manifests: new Map(),
    blobRedirects: new Map(),
    fingerprint: "",
    loadedAt: new Date(0),
  };
}

/** Fingerprint of the data dir and the manifest dir together (see walk.ts for why files too). */
export async function sourcesFingerprint(config: ServerConfig): Promise<string> {
  const [data, manifests, policy] = await Promise.all([
    walkTree(config.dataDir),
    walkTree(config.manifestDir),
    policyFingerprint(config),
  ]);
  const approvals = await stat(approvalsFile(config)).catch(() => undefined);
  const record =
    approvals === undefined ? "" : `\n--\n${approvals.size} ${approvals.mtimeMs} ${approvals.ino}`;
  return `${fingerprint(data)}\n--\n${fingerprint(manifests)}${policy}${record}`;
}

/** The policy file's size, mtime and inode: a deploy that changes access.yaml reloads it. */
async function policyFingerprint(config: ServerConfig): Promise<string> {
  if (config.auth.mode !== "local") return "";
  const info = await stat(config.auth.policyFile).catch(() => undefined);
  return `\n--\n${info === undefined ? "missing" : `${info.size} ${info.mtimeMs} ${info.ino}`}`;
}

async function readPolicy(file: string): Promise<Policy> {
  return loadPolicyFile(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
    throw new UserError(`the access policy ${file} does not exist`, {
      hint: "`raas setup` creates access.yaml in the app repository; check [auth] policy_file.",
    });
  });
}

/** A verified manifest with its response headers. */
export function servedManifest(bytes: Buffer, digest: Digest, mediaType: string): ServedManifest {
  const etag = `"${digest}"`;
  const headers = {
    "Docker-Distribution-API-Version": "registry/2.0",
    "Content-Type": mediaType,
    "Content-Length": bytes.length,
    "Docker-Content-Digest": digest,
    ETag: etag,
  };
  return { bytes, etag, headers };
}

/** How many times a load is retried when the files change under it before it is served as is. */
const STABLE_LOAD_ATTEMPTS = 5;

/**
 * Load the metadata, and name what was loaded truthfully: the sources are fingerprinted before
 * and after, and a load they changed under (a deploy still writing files) is done again. Workers
 * compare these names to switch together, so two loads that saw different files must never share
 * one; a load that never settles gets a name of its own, which no other load and no later poll
 * matches, so it is replaced as soon as the files are still.
 */
export async function loadSnapshot(config: ServerConfig, log: LogFn): Promise<Snapshot> {
  for (let attempt = 1; ; attempt++) {
    const before = await sourcesFingerprint(config);
    const loaded = await loadSnapshotOnce(config, log, before);
    const after = await sourcesFingerprint(config);
    if (after === before) return loaded;
    if (attempt >= STABLE_LOAD_ATTEMPTS) {
      return { ...loaded, fingerprint: `${after}\n--\nchanged while loading ${randomUUID()}` };
    }
  }
}

async function loadSnapshotOnce(config: ServerConfig, log: LogFn, print: string): Promise<Snapshot> {
  // An invalid or missing policy fails the whole load: the old snapshot (and policy) stays.
  const policy = config.auth.mode === "local" ? await readPolicy(config.auth.policyFile) : undefined;
  const index = await loadMetadataDir(config.dataDir, log);
  const manifests = new Map<string, ServedManifest>();
  for (const { meta, file } of index.v2.values()) {
    if (meta.version !== 4 || meta["x-raas"] === undefined) continue;
    for (const [digest, record] of Object.entries(meta["x-raas"].manifests) as [
      Digest,
      { mediaType: string },
    ][]) {
      // Both parts were validated by parseMetadata (safe segment, sha256 grammar).
      const path = join(config.manifestDir, meta.repository, digest);
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch {
        continue; // Not in the app repo: served from serve_content or storage instead.
      }
      if (sha256Digest(bytes) !== digest) {
        log(`skipping manifest ${path} (listed by ${file}): its content does not match its digest`);
        continue;
      }
      manifests.set(manifestKey(meta.repository, digest), servedManifest(bytes, digest, record.mediaType));
    }
  }
  const approvals = parseApprovals(await readFile(approvalsFile(config), "utf8").catch(() => undefined));
  return {
    index,
    manifests,
    blobRedirects: new Map(),
    fingerprint: print,
    loadedAt: new Date(),
    ...(policy === undefined ? {} : { policy }),
    approvals,
  };
}
