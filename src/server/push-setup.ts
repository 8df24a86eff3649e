/**
 * Builds the write API from `[push]` and what the entry point injects. Writes need an identity:
 * `authorizeWrite` comes from the access layer. Without it, writes are refused (405) unless
 * `unauthenticated_loopback = true`, which is for tests on one machine: it is refused on any
 * listen address but loopback, accepts only loopback peers, and takes the commit author from
 * the Basic-auth user name, unverified.
 */
import { isIP } from "node:net";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { UserError } from "../errors.js";
import type { CommitAuthor, MetadataCommitPort } from "../publish/metadata-commit.js";
import { publicObjectUrl } from "../storage/s3-url.js";
import type { BlobStore } from "../storage/types.js";
import type { ServerConfig } from "./config.js";
import { GitMetadataRepository } from "./git-metadata.js";
import type { Req } from "./http.js";
import { PushApi, type RecordWriteEvent } from "./push.js";
import { RegistryError } from "./registry-error.js";

export type AuthorizeWrite = (req: Req, name: string, tag?: string) => Promise<CommitAuthor>;
export type MayPull = (req: Req, name: string) => Promise<boolean>;

const LOOPBACK_CHALLENGE = 'Basic realm="raas (unauthenticated loopback testing)"';

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  const bare = host.replace(/^::ffff:/, "");
  return bare === "::1" || (isIP(bare) === 4 && bare.startsWith("127."));
}

/** A user name fit for a commit author line (no angle brackets, newlines or control characters). */
function authorName(raw: string): string {
  const name = raw.replace(/[^A-Za-z0-9._@+-]/g, "").slice(0, 64);
  return name === "" ? "anonymous" : name;
}

function basicUser(req: Req): string | undefined {
  const header = req.headers.authorization ?? "";
  const m = /^Basic\s+([A-Za-z0-9+/=]{1,2048})$/i.exec(header);
  if (m?.[1] === undefined) return undefined;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  return decoded.slice(0, Math.max(0, decoded.indexOf(":")));
}

export interface PushInjected {
  authorizeWrite?: AuthorizeWrite;
  /** Who may delete (the access layer's `delete` action); without it, as authorizeWrite in loopback testing. */
  authorizeDelete?: AuthorizeWrite;
  mayPull?: MayPull;
  store?: BlobStore;
  metadata?: MetadataCommitPort;
}

export function createPushApi(
  config: ServerConfig,
  listenHost: string,
  injected: PushInjected,
  afterCommit: () => Promise<void>,
  /** Without an access layer: what anyone may pull (a known, unprotected repository). */
  publicRepo: (name: string) => boolean,
  /** The registry's store (openServerStore): the serve_content directory or the S3 bucket. */
  serverStore?: BlobStore,
  warn: (message: string) => void = () => undefined,
  /** Push and mount events (observe.ts), when events are recorded. */
  recordEvent?: RecordWriteEvent,
): PushApi | undefined {
  const where = config.file ?? "registry config";
  if (!config.push.enable) return undefined;
  let authorizeWrite = injected.authorizeWrite;
  let authorizeDelete = injected.authorizeDelete;
  if (authorizeWrite === undefined) {
    if (!config.push.unauthenticatedLoopback) return undefined;
    if (!isLoopback(listenHost)) {
      throw new UserError(
        `${where}: [push] unauthenticated_loopback is only allowed on a loopback listen address, not ${listenHost}`,
        { hint: "Listen on 127.0.0.1 for tests, or configure access control for writes." },
      );
    }
    // eslint-disable-next-line @typescript-eslint/require-await -- async so that every throw below is a rejection, as callers of AuthorizeWrite expect
    authorizeWrite = async (req) => {
      if (!isLoopback(req.socket.remoteAddress ?? "")) {
        throw new RegistryError(401, "UNAUTHORIZED", "authentication required");
      }
      const given = basicUser(req);
      // Ask for a name, so clients (which send credentials only when challenged) say who pushes.
      if (given === undefined) {
        throw new RegistryError(401, "UNAUTHORIZED", "authentication required", undefined, {
          "WWW-Authenticate": LOOPBACK_CHALLENGE,
        });
      }
      const user = authorName(given);
      return { name: user, email: `${user}@loopback.invalid` };
    };
    authorizeDelete = authorizeWrite;
  }
  const store = injected.store ?? serverStore;
  if (store === undefined) {
    throw new UserError(
      `${where}: [push] needs a store: [serve_content] enable, or [storage] kind = s3 with a bucket`,
    );
  }
  let metadata = injected.metadata;
  if (metadata === undefined) {
    if (config.push.appRemote === "") throw new UserError(`${where}: [push] enable needs app_remote`);
    const base = config.push.cloneDir === "" ? join(tmpdir(), "raas-registry-clones") : config.push.cloneDir;
    // One clone per process: workers of a cluster commit independently and merge by recomputation.
    metadata = new GitMetadataRepository({
      remote: config.push.appRemote,
      branch: config.push.appBranch,
      cloneDir: join(base, String(process.pid)),
    });
  }
  return new PushApi({
    store,
    metadata,
    isv: config.isv ?? "",
    repositoryUrl: repositoryUrlFor(config),
    warn,
    authorizeWrite,
    ...(authorizeDelete === undefined ? {} : { authorizeDelete }),
    allowDelete: config.push.allowDelete,
    mayPull: injected.mayPull ?? ((_req, name) => Promise.resolve(publicRepo(name))),
    maxBlobSize: config.push.maxBlobSize,
    publicRead: config.push.publicRead,
    writeOnceTags: config.push.writeOnceTags,
    afterCommit,
    ...(recordEvent === undefined ? {} : { recordEvent }),
    ...(config.environment?.promoteOnly === true
      ? { promoteOnly: { environment: config.environment.name, from: config.environment.promoteFrom } }
      : {}),
    ...(injected.authorizeWrite === undefined ? { pingChallenge: LOOPBACK_CHALLENGE } : {}),
  });
}

/** The Crane `url` recorded for a repository, as `raas push` records it for the same storage. */
function repositoryUrlFor(config: ServerConfig): (repository: string) => string {
  if (config.serveContent.enable) {
    const root = config.serveContent.contentDirV2.replace(/\/+$/, "");
    return (repository) => `file://${root}/${repository}/`;
  }
  const storage = config.storage;
  if (storage.publicBaseUrl !== "") {
    const base = storage.publicBaseUrl.replace(/\/+$/, "");
    return (repository) => `${base}/${repository}/`;
  }
  return (repository) =>
    publicObjectUrl(
      {
        bucket: storage.bucket,
        region: storage.region,
        forcePathStyle: storage.forcePathStyle,
        ...(storage.endpoint === "" ? {} : { endpoint: storage.endpoint }),
      },
      `${repository}/x`,
    ).slice(0, -1);
}
