/**
 * The write half of the OCI distribution API: blob uploads (monolithic, chunked, mount) into
 * storage through UploadSessions, and manifest PUTs, each a publication through the same code
 * as `raas push` (publishTarget, then writePublications in one app-repository commit whose
 * author is the identity that pushed).
 */
import { Transform, type TransformCallback } from "node:stream";
import { blobKey } from "../crane/keys.js";
import { errorMessage, UserError } from "../errors.js";
import { isDigest, sha256Digest, type Digest } from "../image/digest.js";
import { dashed, isRepositoryName, isTag, metadataFileName } from "../image/names.js";
import { MaskSet } from "../publish/mask.js";
import { metadataName, prefixHolder, prefixTakenMessage } from "../publish/prefix-owner.js";
import type { MetadataIndex } from "../crane/load.js";
import { writePublications, type CommitAuthor, type MetadataCommitPort } from "../publish/metadata-commit.js";
import { publishTarget } from "../publish/publish.js";
import { DigestMismatchError, type BlobStore } from "../storage/types.js";
import type { EventTarget } from "../events/envelope.js";
import {
  deleteInFiles,
  forgetRemovedReferrers,
  removedImages,
  writeTagsList,
  type DeletionDone,
} from "../publish/delete-apply.js";
import type { DeleteReference } from "../publish/deletion.js";
import type { RequestContext } from "./context.js";
import { API_VERSION_HEADER, send, type Req } from "./http.js";
import { checkManifest, MAX_MANIFEST_SIZE } from "./push-manifest.js";
import { recordReferrer, referrerDescriptor } from "../publish/referrers.js";
import { noRoute, RegistryError } from "./registry-error.js";
import {
  ChunkSizeError,
  ChunkTooLargeError,
  SmallChunksError,
  TooManyChunksError,
  UploadSessions,
  type UploadState,
} from "./upload-sessions.js";

export interface PushDeps {
  store: BlobStore;
  metadata: MetadataCommitPort;
  /** The ISV, for metadata file names (`data/<isv>-<name>.json`). */
  isv: string;
  /** Crane `url` of a repository's storage prefix. */
  repositoryUrl(repository: string): string;
  /** Resolves to the commit author when `req` may push to `name` (and move `tag`); throws a RegistryError otherwise. */
  authorizeWrite(req: Req, name: string, tag?: string): Promise<CommitAuthor>;
  /**
   * Resolves to the commit author when `req` may delete in `name` (and delete `tag`); throws a
   * RegistryError otherwise. Absent, or `allowDelete` false: DELETE answers 405 UNSUPPORTED.
   */
  authorizeDelete?: (req: Req, name: string, tag?: string) => Promise<CommitAuthor>;
  /** `[push] allow_delete`: manifest and tag DELETE are served (docs/push-api.md). */
  allowDelete?: boolean;
  /** Whether `req` may pull `name` (cross-repository mount). */
  mayPull(req: Req, name: string): Promise<boolean>;
  maxBlobSize: number;
  publicRead: boolean;
  /** Repository name prefixes whose tags are write-once (`[push] write_once_tags`). */
  writeOnceTags?: readonly string[];
  /**
   * A `WWW-Authenticate` challenge for the `/v2/` ping of a request without credentials:
   * clients learn from the ping how to authenticate, and send credentials only when asked.
   */
  pingChallenge?: string;
  /** Problems that do not fail a request (logged). */
  warn?: (message: string) => void;
  /** Called after a metadata commit (serve it now: read-your-writes). */
  afterCommit?: () => Promise<void>;
  /** Store a push or mount event before the response is sent (observe.ts; docs/events.md). */
  recordEvent?: RecordWriteEvent;
  /** A `promote_only` lifecycle environment (registry.conf `[raas]`): no pushes, only `raas promote`. */
  promoteOnly?: { environment: string; from: string };
}

export type RecordWriteEvent = (
  req: Req,
  action: "push" | "mount" | "delete",
  target: Omit<EventTarget, "length">,
  actor: string,
) => Promise<void>;

type Reporter = Parameters<typeof publishTarget>[0]["reporter"];

const quiet: Reporter = {
  level: "error",
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  step: () => ({
    update: () => undefined,
    succeed: () => undefined,
    fail: () => undefined,
    info: () => undefined,
  }),
};

/** Counts the bytes of a body and fails past `limit`. */
class Limit extends Transform {
  bytes = 0;
  /** Why the stream failed, when it did (the store may wrap the error it sees). */
  failure: unknown;
  constructor(private readonly limit: number) {
    super();
    this.on("error", (err) => (this.failure = err));
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) callback(new ChunkTooLargeError(this.limit));
    else callback(null, chunk);
  }
}

const tooLarge = (limit: number) =>
  new RegistryError(413, "SIZE_INVALID", `content larger than the limit of ${limit} bytes`);

function contentLength(req: Req): number | undefined {
  const header = req.headers["content-length"];
  if (header === undefined) return undefined;
  if (!/^\d{1,16}$/.test(header)) throw new RegistryError(400, "SIZE_INVALID", "invalid Content-Length");
  return Number(header);
}

async function readBody(req: Req, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function queryDigest(value: string | null, what: string): Digest {
  if (value === null || !isDigest(value)) {
    throw new RegistryError(400, "DIGEST_INVALID", `invalid ${what}`, {
      digest: (value ?? "").slice(0, 100),
    });
  }
  return value;
}

export class PushApi {
  /** The upload sessions (the server sweeps abandoned ones, upload-sweep.ts). */
  readonly sessions: UploadSessions;

  get store(): BlobStore {
    return this.deps.store;
  }

  constructor(private readonly deps: PushDeps) {
    this.sessions = new UploadSessions(deps.store, deps.maxBlobSize, deps.warn);
  }

  /**
   * Requests that write: `segments` are the decoded path after `/v2/`. Returns false when the
   * request is not a write route (the read API answers it).
   */
  async handle(ctx: RequestContext, segments: string[]): Promise<boolean> {
    const method = ctx.req.method ?? "";
    const n = segments.length;
    if (n === 1 && segments[0] === "" && this.deps.pingChallenge !== undefined) {
      if (ctx.req.headers.authorization === undefined) {
        throw new RegistryError(401, "UNAUTHORIZED", "authentication required", undefined, {
          "WWW-Authenticate": this.deps.pingChallenge,
        });
      }
      return false;
    }
    if (n >= 4 && segments[n - 3] === "blobs" && segments[n - 2] === "uploads") {
      const name = this.name(segments.slice(0, -3));
      this.refusePromoteOnly(name, undefined);
      const id = segments[n - 1] ?? "";
      if (id === "") {
        if (method !== "POST") throw noRoute();
        await this.startUpload(ctx, name);
      } else {
        await this.session(ctx, name, id, method);
      }
      return true;
    }
    if (method === "PUT" && n >= 3 && segments[n - 2] === "manifests") {
      const name = this.name(segments.slice(0, -2));
      this.refusePromoteOnly(name, segments[n - 1]);
      await this.putManifest(ctx, name, segments[n - 1] ?? "");
      return true;
    }
    if (method === "DELETE" && n >= 3 && segments[n - 2] === "manifests") {
      if (this.deps.allowDelete !== true || this.deps.authorizeDelete === undefined) {
        throw new RegistryError(405, "UNSUPPORTED", "manifest and tag deletion is not enabled", undefined, {
          Allow: "GET, HEAD, PUT",
        });
      }
      await this.deleteManifest(ctx, this.name(segments.slice(0, -2)), segments[n - 1] ?? "");
      return true;
    }
    if (method === "DELETE" && n >= 3 && segments[n - 2] === "blobs") {
      // Blobs are content-addressed and shared by manifests and uploads in flight: `raas gc`
      // frees those nothing references once the grace period has passed (docs/gc.md).
      throw new RegistryError(
        405,
        "UNSUPPORTED",
        "blobs are not deleted through the API; delete the manifest, and raas gc frees unreferenced blobs",
        undefined,
        { Allow: "GET, HEAD" },
      );
    }
    if (method === "GET" || method === "HEAD") return false;
    throw new RegistryError(405, "UNSUPPORTED", "the operation is unsupported", undefined, {
      Allow: "GET, HEAD",
    });
  }

  /**
   * A promote_only environment takes no pushes, blobs included (they could only pile up unused);
   * the refusal comes before any login is asked for: it is the same for everyone.
   */
  private refusePromoteOnly(name: string, reference: string | undefined): void {
    const only = this.deps.promoteOnly;
    if (only === undefined) return;
    const tag = reference !== undefined && isTag(reference) ? reference : "<tag>";
    throw new RegistryError(
      403,
      "DENIED",
      `${only.environment} accepts only promotions: raas promote ${this.deps.isv} ${name}:${tag} --from ${only.from || "<env>"} --to ${only.environment}`,
    );
  }

  /**
   * `DELETE /v2/<name>/manifests/<tag|digest>`: the deletion `raas delete` makes (deleteInFiles),
   * in one commit authored by the caller. A tag: the tag goes, its manifest stays pullable by
   * digest. A digest: the manifest and every tag naming it. The last tag removes the repository.
   */
  private async deleteManifest(ctx: RequestContext, name: string, reference: string): Promise<void> {
    const { req, res } = ctx;
    const byDigest = reference.includes(":");
    if (byDigest && !isDigest(reference)) {
      throw new RegistryError(400, "DIGEST_INVALID", "invalid digest", { digest: reference.slice(0, 100) });
    }
    const unknownManifest = () =>
      new RegistryError(404, "MANIFEST_UNKNOWN", "manifest unknown", {
        name,
        reference: reference.slice(0, 150),
      });
    if (!byDigest && !isTag(reference)) throw unknownManifest();
    const authorize = this.deps.authorizeDelete!;
    const author = await authorize(req, name, byDigest ? undefined : reference);
    const unknownName = () =>
      new RegistryError(404, "NAME_UNKNOWN", "repository name not known to registry", { name });
    if (ctx.snap.index.v2.get(name)?.meta.protected === true) throw unknownName();
    const ref: DeleteReference = byDigest ? { name, digest: reference as Digest } : { name, tag: reference };
    const metadataPath = `data/${metadataFileName(this.deps.isv, name)}`;
    const writeOnce = writeOnceRule(this.deps.writeOnceTags ?? [], name);
    let done: DeletionDone | undefined;
    const message = `${this.deps.isv} delete ${name}${byDigest ? `@${reference}` : `:${reference}`} (registry API)`;
    let commit: string | undefined;
    try {
      ({ commit } = await this.deps.metadata.update(
        message,
        async (files) => {
          done = undefined;
          if ((await files.read(metadataPath)) === undefined) throw unknownName();
          const result = await deleteInFiles(files, this.deps.isv, ref, new Date());
          const tags = result.plan.removedTags;
          if (writeOnce !== undefined && tags.length > 0) {
            throw new RegistryError(
              409,
              "DENIED",
              `tag ${tags.join(", ")} of ${name} is write-once ([push] write_once_tags = ${writeOnce}) and cannot be deleted`,
              { tags },
            );
          }
          // A manifest delete removes its tags: each is held to the tag rules, as a tag delete is.
          if (byDigest) for (const tag of tags) await authorize(req, name, tag);
          done = result;
        },
        author,
      ));
    } catch (err) {
      if (err instanceof UserError) {
        if (err.code === "NOT_FOUND") throw unknownManifest();
        throw new RegistryError(409, "DENIED", errorMessage(err));
      }
      throw err;
    }
    const deleted = done!;
    if (commit !== undefined) {
      if (deleted.plan.next !== undefined) await writeTagsList(this.deps.store, name, deleted.plan.next);
      await forgetRemovedReferrers(this.deps.store, deleted).catch((err: unknown) =>
        this.deps.warn?.(`deleting ${name}: the referrers listing was not updated: ${errorMessage(err)}`),
      );
      await this.deps.afterCommit?.();
      const removed = removedImages(name, deleted.before, deleted.plan);
      // Delete events (docs/events.md): one per removed tag, one per removed manifest.
      for (const target of [...removed.tags, ...removed.manifests.map((m) => ({ ...m, tag: undefined }))]) {
        await this.deps.recordEvent?.(
          req,
          "delete",
          {
            mediaType: target.mediaType,
            size: target.size,
            digest: target.digest,
            repository: name,
            url: `/v2/${name}/manifests/${target.digest}`,
            ...(target.tag === undefined ? {} : { tag: target.tag }),
          },
          author.name,
        );
      }
    }
    send(req, res, 202, "", API_VERSION_HEADER);
  }

  private name(parts: string[]): string {
    const name = parts.join("/");
    if (!isRepositoryName(name)) {
      throw new RegistryError(400, "NAME_INVALID", "invalid repository name", { name: name.slice(0, 300) });
    }
    return name;
  }

  /**
   * Refuses (409 DENIED) a write into the storage prefix of `name` when another repository holds
   * it (publish/prefix-owner.ts): names that differ only in `/` against `-` share a prefix.
   * `metadataFile` is the `repo-registry-id` of the metadata file `name` would be written to,
   * when the caller read it; the loaded snapshot and the stored `tags/list` are asked too.
   */
  private async claimPrefix(
    ctx: RequestContext,
    name: string,
    prefix: string,
    metadataFile?: string | null,
  ): Promise<void> {
    const loaded = prefixHolders(ctx.snap.index).get(prefix);
    const holder = await prefixHolder(this.deps.store, name, prefix, { metadataFile, loaded });
    if (holder === undefined) return;
    throw new RegistryError(409, "DENIED", prefixTakenMessage(name, prefix, holder), {
      name,
      prefix,
      holder,
    });
  }

  /**
   * Where a cross-repository mount may copy `digest` from: only a blob the loaded metadata of
   * `from` (a file naming exactly `from`) lists as stored, in the prefix that metadata names.
   * Whatever the caller may pull through `from` it could read anyway; nothing else is mounted.
   */
  private mountSource(ctx: RequestContext, from: string, digest: Digest): string | undefined {
    const repo = ctx.snap.index.v2.get(from);
    if (repo === undefined || repo.meta.protected === true || repo.meta["repo-registry-id"] !== from) {
      return undefined;
    }
    if (repo.meta.version !== 4) return undefined;
    const record = repo.meta["x-raas"]?.blobs[digest];
    // A masked vendor layer lives at its vendor URL, not in the prefix.
    if (record === undefined || record.url !== undefined) return undefined;
    return blobKey(repo.meta.repository, digest);
  }

  private async startUpload(ctx: RequestContext, name: string): Promise<void> {
    const { req, res, query } = ctx;
    const author = await this.deps.authorizeWrite(req, name);
    const repository = dashed(name);
    await this.claimPrefix(ctx, name, repository);
    const mount = query.get("mount");
    const from = query.get("from");
    if (mount !== null && from !== null) {
      const digest = queryDigest(mount, "mount digest");
      // Mount only from a repository the caller may pull, and only a blob its metadata lists;
      // else a normal session (zot GHSA-55r9).
      const source =
        isRepositoryName(from) && (await this.deps.mayPull(req, from))
          ? this.mountSource(ctx, from, digest)
          : undefined;
      if (source !== undefined) {
        const found = await this.deps.store.head(source);
        if (found !== undefined) {
          await this.deps.store.copy(source, blobKey(repository, digest), {
            publicRead: this.deps.publicRead,
          });
          await this.deps.recordEvent?.(
            req,
            "mount",
            {
              mediaType: "application/octet-stream",
              size: found.size,
              digest,
              repository: name,
              url: `/v2/${name}/blobs/${digest}`,
              fromRepository: from,
            },
            author.name,
          );
          return this.created(ctx, name, digest);
        }
      }
    }
    const digestParam = query.get("digest");
    if (digestParam !== null) {
      const digest = queryDigest(digestParam, "digest");
      const length = contentLength(req);
      if (length !== undefined && length > this.deps.maxBlobSize) throw tooLarge(this.deps.maxBlobSize);
      const limit = new Limit(this.deps.maxBlobSize);
      req.on("error", (err) => limit.destroy(err));
      req.pipe(limit);
      await this.verifiedPut(blobKey(repository, digest), limit, digest, length);
      return this.created(ctx, name, digest);
    }
    const id = await this.sessions.start(repository, ctx.now);
    send(req, res, 202, "", {
      ...API_VERSION_HEADER,
      Location: `/v2/${name}/blobs/uploads/${id}`,
      Range: "0-0",
      "Docker-Upload-UUID": id,
      // Chunks at least this long (but the last) never rewrite pending bytes (upload-sessions.ts).
      ...(this.sessions.minChunkLength === undefined
        ? {}
        : { "OCI-Chunk-Min-Length": String(this.sessions.minChunkLength) }),
    });
  }

  private async verifiedPut(key: string, body: Limit, digest: Digest, size?: number): Promise<void> {
    try {
      await this.deps.store.put(key, body, {
        digest,
        ...(size === undefined ? {} : { size }),
        publicRead: this.deps.publicRead,
      });
    } catch (caught) {
      const err = body.failure ?? caught;
      if (err instanceof DigestMismatchError) {
        throw new RegistryError(400, "DIGEST_INVALID", "content does not match the digest", { digest });
      }
      if (err instanceof ChunkTooLargeError) throw tooLarge(err.limit);
      throw err;
    }
  }

  private async session(ctx: RequestContext, name: string, id: string, method: string): Promise<void> {
    const { req, res } = ctx;
    await this.deps.authorizeWrite(req, name);
    const repository = dashed(name);
    const unknown = () =>
      new RegistryError(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", {
        id: id.slice(0, 64),
      });
    const state = await this.sessions.current(id, repository);
    if (state === undefined) throw unknown();
    const progress = (s: UploadState) => ({
      ...API_VERSION_HEADER,
      Location: `/v2/${name}/blobs/uploads/${id}`,
      Range: `0-${Math.max(0, s.offset - 1)}`,
      "Docker-Upload-UUID": id,
    });
    if (method === "GET" || method === "HEAD") return send(req, res, 204, "", progress(state));
    if (method === "DELETE") {
      await this.sessions.remove(id, state);
      return send(req, res, 204, "", API_VERSION_HEADER);
    }
    if (method !== "PATCH" && method !== "PUT") {
      throw new RegistryError(405, "UNSUPPORTED", "the operation is unsupported");
    }
    if (method === "PATCH") {
      const next = await this.withBody(req, state, progress, (expected) =>
        this.sessions.append(id, state, req, expected),
      );
      return send(req, res, 202, "", progress(next));
    }
    const digest = queryDigest(ctx.query.get("digest"), "digest");
    // The blob is written into the prefix now: whose it is is asked again (it may have been
    // claimed since the session began).
    await this.claimPrefix(ctx, name, repository);
    try {
      await this.withBody(req, state, progress, (expected) =>
        this.sessions.finish(
          id,
          state,
          req,
          { key: blobKey(repository, digest), digest, publicRead: this.deps.publicRead },
          expected,
        ),
      );
    } catch (err) {
      if (err instanceof DigestMismatchError) {
        throw new RegistryError(400, "DIGEST_INVALID", "uploaded content does not match the digest", {
          digest,
        });
      }
      throw err;
    }
    this.created(ctx, name, digest);
  }

  /**
   * Checks the request's Content-Range and Content-Length against the session, then runs `write`
   * with the chunk's expected length; errors of the body become the spec's answers.
   */
  private async withBody<T>(
    req: Req,
    state: UploadState,
    progress: (s: UploadState) => Record<string, string>,
    write: (expected: number | undefined) => Promise<T>,
  ): Promise<T> {
    const length = contentLength(req);
    const range = req.headers["content-range"];
    let expected: number | undefined;
    if (range !== undefined) {
      const m = /^(?:bytes[ =])?(\d{1,16})-(\d{1,16})(?:\/\d+|\/\*)?$/.exec(range);
      const start = Number(m?.[1]);
      const end = Number(m?.[2]);
      if (
        m === null ||
        start !== state.offset ||
        end < start ||
        (length !== undefined && end - start + 1 !== length)
      ) {
        // Out of order, overlapping or malformed: the client learns where the session stands.
        throw new RegistryError(
          416,
          "BLOB_UPLOAD_INVALID",
          "chunk out of order",
          { offset: state.offset },
          progress(state),
        );
      }
      expected = end - start + 1;
    } else if (length !== undefined) {
      // The body is exactly Content-Length long (HTTP framing): an empty closing PUT, as
      // skopeo sends, then writes nothing.
      expected = length;
    }
    if (length !== undefined && state.offset + length > this.deps.maxBlobSize) {
      throw tooLarge(this.deps.maxBlobSize);
    }
    try {
      return await write(expected);
    } catch (err) {
      if (err instanceof ChunkSizeError) {
        throw new RegistryError(
          416,
          "BLOB_UPLOAD_INVALID",
          "chunk does not match its Content-Range",
          { offset: state.offset },
          progress(state),
        );
      }
      if (err instanceof ChunkTooLargeError) throw tooLarge(err.limit);
      if (err instanceof SmallChunksError) {
        throw new RegistryError(
          400,
          "BLOB_UPLOAD_INVALID",
          `${err.message} (OCI-Chunk-Min-Length)`,
          { minimum: err.minimum, offset: state.offset },
          progress(state),
        );
      }
      if (err instanceof TooManyChunksError) {
        // Not a 416: the client would ask where the session stands and send the same chunk again.
        throw new RegistryError(
          400,
          "BLOB_UPLOAD_INVALID",
          `the upload already has ${err.limit} chunks, the most one session takes: send larger chunks`,
          { limit: err.limit, offset: state.offset },
          progress(state),
        );
      }
      throw err;
    }
  }

  private created(ctx: RequestContext, name: string, digest: Digest): void {
    send(ctx.req, ctx.res, 201, "", {
      ...API_VERSION_HEADER,
      Location: `/v2/${name}/blobs/${digest}`,
      "Docker-Content-Digest": digest,
    });
  }

  private async putManifest(ctx: RequestContext, name: string, reference: string): Promise<void> {
    const { req, res } = ctx;
    const byDigest = reference.includes(":");
    if (byDigest && !isDigest(reference)) {
      throw new RegistryError(400, "DIGEST_INVALID", "invalid digest", { digest: reference.slice(0, 100) });
    }
    if (!byDigest && !isTag(reference)) {
      throw new RegistryError(400, "MANIFEST_INVALID", "invalid tag", { tag: reference.slice(0, 150) });
    }
    const author = await this.deps.authorizeWrite(req, name, byDigest ? undefined : reference);
    const snapRepo = ctx.snap.index.v2.get(name);
    if (snapRepo?.meta.protected === true) {
      throw new RegistryError(404, "NAME_UNKNOWN", "repository name not known to registry", { name });
    }
    const length = contentLength(req);
    if (length !== undefined && length > MAX_MANIFEST_SIZE) throw tooLarge(MAX_MANIFEST_SIZE);
    const bytes = await readBody(req, MAX_MANIFEST_SIZE);
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "";
    const digest = sha256Digest(bytes);
    if (byDigest && reference !== digest) {
      throw new RegistryError(400, "DIGEST_INVALID", "manifest does not match the digest in the URL", {
        digest: reference,
      });
    }
    const repository = dashed(name);
    const metadataPath = `data/${metadataFileName(this.deps.isv, name)}`;
    // Nothing is stored before it is known that the prefix is this repository's.
    const existing = await this.deps.metadata.read(metadataPath);
    await this.claimPrefix(ctx, name, repository, metadataName(existing, metadataPath));
    const { root, subject } = await checkManifest(this.deps.store, repository, bytes, contentType);
    const tags = byDigest ? [] : [reference];
    const writeOnce = byDigest ? undefined : writeOnceRule(this.deps.writeOnceTags ?? [], name);
    // Checked before anything is stored, and again inside the commit (a concurrent PUT of the tag).
    const refuseMove = (text: string | undefined) => {
      const current = text === undefined ? undefined : tagsOf(text)[reference];
      if (writeOnce !== undefined && current !== undefined && current !== digest) {
        throw new RegistryError(
          409,
          "DENIED",
          `tag ${reference} of ${name} is write-once ([push] write_once_tags = ${writeOnce}) and already names ${current}; push under a new tag`,
          { tag: reference, digest: current },
        );
      }
    };
    try {
      refuseMove(existing);
      const existingTags = existing === undefined ? [] : Object.keys(tagsOf(existing));
      const result = await publishTarget({
        store: this.deps.store,
        reporter: quiet,
        name,
        repository,
        url: this.deps.repositoryUrl(repository),
        tags,
        root,
        mask: new MaskSet([]),
        existingTags,
        concurrency: 4,
        publicRead: this.deps.publicRead,
      });
      const message = `${this.deps.isv} push ${name}${byDigest ? `@${digest}` : `:${reference}`} (registry API)`;
      const { commit } = await this.deps.metadata.update(
        message,
        async (files) => {
          refuseMove(await files.read(metadataPath));
          await writePublications(files, [{ metadataPath, result }], new Date());
        },
        author,
      );
      if (subject !== undefined) {
        const json = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
        await recordReferrer(
          this.deps.store,
          repository,
          subject,
          referrerDescriptor(json, contentType, digest, bytes.length),
        );
      }
      if (commit !== undefined) {
        await this.deps.afterCommit?.();
        await this.deps.recordEvent?.(
          req,
          "push",
          {
            mediaType: contentType,
            size: bytes.length,
            digest,
            repository: name,
            url: `/v2/${name}/manifests/${digest}`,
            ...(byDigest ? {} : { tag: reference }),
          },
          author.name,
        );
      }
    } catch (err) {
      if (err instanceof UserError) throw new RegistryError(409, "DENIED", errorMessage(err));
      throw err;
    }
    send(req, res, 201, "", {
      ...API_VERSION_HEADER,
      Location: `/v2/${name}/manifests/${digest}`,
      "Docker-Content-Digest": digest,
      ...(subject === undefined ? {} : { "OCI-Subject": subject }),
    });
  }
}

/** The `write_once_tags` prefix that covers repository `name`, if any. */
export function writeOnceRule(prefixes: readonly string[], name: string): string | undefined {
  return prefixes.find((p) =>
    p === "*" ? true : p.endsWith("/") ? name.startsWith(p) : name === p || name.startsWith(`${p}/`),
  );
}

function tagsOf(text: string): Record<string, string> {
  try {
    const doc = JSON.parse(text) as { "x-raas"?: { tags?: Record<string, string> } };
    return doc["x-raas"]?.tags ?? {};
  } catch {
    return {};
  }
}

/** Repositories of the loaded metadata by storage prefix (computed once per snapshot). */
const holdersByIndex = new WeakMap<MetadataIndex, Map<string, string[]>>();

function prefixHolders(index: MetadataIndex): Map<string, string[]> {
  let holders = holdersByIndex.get(index);
  if (holders === undefined) {
    holders = new Map();
    for (const repos of [index.v1, index.v2]) {
      for (const [name, repo] of repos) {
        const prefix = repo.meta.repository;
        const names = holders.get(prefix) ?? [];
        if (!names.includes(name)) names.push(name);
        holders.set(prefix, names);
      }
    }
    holdersByIndex.set(index, holders);
  }
  return holders;
}
