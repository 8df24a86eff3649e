/**
 * The embedded default store: objects are files under a root directory. Writes land in
 * `<root>/.tmp/` (same filesystem) and are renamed into place only after the digest and size
 * check, so readers see either nothing or the complete, verified object. Content types live in
 * sidecars under `<root>/.meta/<key>.json`, written before the object's rename.
 */
import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { copyFile, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { walkFiles } from "./local-walk.js";
import { writeHashed } from "./local-write.js";
import { localFsError } from "./local-errors.js";
import {
  DigestMismatchError,
  ObjectNotFoundError,
  StoreClosedError,
  assertSafeKey,
  type BlobStore,
  type ListedObject,
  type ObjectInfo,
  type PartialWrite,
  type PutOptions,
  type PutResult,
  PROBE_PREFIX,
  type AssembleOptions,
} from "./types.js";
import { verifyPut } from "./verify.js";

/** Top-level folders of the root that are ours, not objects. */
const TMP_DIR = ".tmp";
const META_DIR = ".meta";
const PROBE_DIR = PROBE_PREFIX.slice(0, -1);
const RESERVED = new Set([TMP_DIR, META_DIR, PROBE_DIR]);

interface Sidecar {
  contentType?: string;
}

export class LocalStore implements BlobStore {
  readonly root: string;
  readonly description: string;
  readonly container: string;
  /** A directory is created without asking (nothing is billed, no name is taken from anyone). */
  readonly createNeedsConsent = false;

  /** Aborted by close(): writes in flight stop before their rename, later ones do not start. */
  private readonly closing = new AbortController();

  constructor(root: string) {
    this.root = resolve(root);
    this.description = `local directory ${this.root}`;
    this.container = `the directory ${this.root}`;
  }

  async exists(): Promise<boolean> {
    const info = await stat(this.root).catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw localFsError(err, "read", this.root);
    });
    return info?.isDirectory() === true;
  }

  async create(): Promise<void> {
    await mkdir(this.root, { recursive: true }).catch((err: unknown) => {
      throw localFsError(err, "write", this.root);
    });
  }

  async leftoverProbes(): Promise<string[]> {
    const keys: string[] = [];
    for await (const file of walkFiles(join(this.root, PROBE_DIR), new Set())) {
      keys.push(`${PROBE_PREFIX}${file.relative}`);
    }
    return keys;
  }

  async removeLeftoverProbes(): Promise<number> {
    const keys = await this.leftoverProbes();
    for (const key of keys) {
      const path = this.resolveKey(key, true);
      try {
        await removeIfPresent(path);
        await removeIfPresent(this.sidecarOf(key));
      } catch (err) {
        throw localFsError(err, "delete", path);
      }
    }
    return keys.length;
  }

  /** Files in `.tmp/`: every write starts there, so one that stays was cut off mid-write. */
  async partialWrites(): Promise<PartialWrite[]> {
    const dir = join(this.root, TMP_DIR);
    const names = await readdir(dir).catch((err: unknown) => {
      if (isMissing(err)) return [];
      throw localFsError(err, "read", dir);
    });
    const now = Date.now();
    const found: PartialWrite[] = [];
    for (const name of names.sort()) {
      const info = await stat(join(dir, name)).catch(() => undefined);
      // A write that finished while we looked is gone: not partial.
      if (info?.isFile() !== true) continue;
      found.push({ name: join(dir, name), size: info.size, ageMs: Math.max(0, now - info.mtimeMs) });
    }
    return found;
  }

  async removePartialWrites(olderThanMs: number): Promise<number> {
    let removed = 0;
    for (const partial of await this.partialWrites()) {
      if (partial.ageMs < olderThanMs) continue;
      await removeIfPresent(partial.name).catch((err: unknown) => {
        throw localFsError(err, "delete", partial.name);
      });
      removed++;
    }
    return removed;
  }

  /**
   * Every file handle is closed when its operation ends; what close() ends is the writes in
   * flight (an interrupted push must not go on filling the disk and renaming objects into place).
   */
  async close(): Promise<void> {
    this.closing.abort();
    return Promise.resolve();
  }

  /** Absolute path of the object file (for serving it directly). Validates the key. */
  pathOf(key: string): string {
    return this.resolveKey(key, false);
  }

  private resolveKey(key: string, internal: boolean): string {
    assertSafeKey(key);
    const first = key.split("/", 1)[0] ?? "";
    if (!internal && RESERVED.has(first)) {
      throw new Error(`unsafe storage key: ${JSON.stringify(key)} is reserved`);
    }
    const path = resolve(this.root, ...key.split("/"));
    if (!path.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep)) {
      throw new Error(`unsafe storage key: ${JSON.stringify(key)}`);
    }
    return path;
  }

  private sidecarOf(key: string): string {
    return join(this.root, META_DIR, ...`${key}.json`.split("/"));
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const path = this.pathOf(key);
    const info = await stat(path).catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw localFsError(err, "read", path);
    });
    if (info === undefined || !info.isFile()) return undefined;
    const sidecar = await this.readSidecar(key);
    return {
      size: info.size,
      ...(sidecar.contentType === undefined ? {} : { contentType: sidecar.contentType }),
      lastModified: info.mtime,
    };
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<PutResult> {
    return this.write(this.pathOf(key), key, body, options);
  }

  private async write(
    path: string,
    key: string,
    body: Readable | Buffer,
    options: PutOptions,
  ): Promise<PutResult> {
    const closed = (): StoreClosedError => new StoreClosedError(key, this.description);
    if (this.closing.signal.aborted) {
      if (!Buffer.isBuffer(body)) body.destroy();
      throw closed();
    }
    const tmp = await this.tempPath();
    try {
      const handle = await open(tmp, "wx");
      let written;
      try {
        written = await writeHashed(handle, body, options.onProgress, undefined, this.closing.signal);
      } finally {
        await handle.close();
      }
      const actual = verifyPut(key, options, written);
      // Closed while the bytes were written: the object does not become visible.
      if (this.closing.signal.aborted) throw closed();
      await this.commit(tmp, path, key, options.contentType);
      return actual;
    } catch (err) {
      if (this.closing.signal.aborted && !(err instanceof DigestMismatchError)) throw closed();
      throw localFsError(err, "write", path);
    } finally {
      await removeIfPresent(tmp);
    }
  }

  /**
   * Sidecar first, then the object: a visible object always has its content type. An object
   * without one has no sidecar (a missing sidecar reads as no content type): an older sidecar of
   * the key is removed first, and nothing is written, which spares every such write (event
   * batches, their done markers) a file write, a directory check and a rename.
   */
  private async commit(
    tmp: string,
    path: string,
    key: string,
    contentType: string | undefined,
  ): Promise<void> {
    const sidecarPath = this.sidecarOf(key);
    if (contentType === undefined) {
      await removeIfPresent(sidecarPath);
    } else {
      const sidecar: Sidecar = { contentType };
      const sidecarTmp = await this.tempPath();
      try {
        await writeFile(sidecarTmp, `${JSON.stringify(sidecar)}\n`, { flag: "wx" });
        await mkdir(dirname(sidecarPath), { recursive: true });
        await rename(sidecarTmp, sidecarPath);
      } finally {
        await removeIfPresent(sidecarTmp);
      }
    }
    await mkdir(dirname(path), { recursive: true });
    await rename(tmp, path);
  }

  private async tempPath(): Promise<string> {
    const dir = join(this.root, TMP_DIR);
    await mkdir(dir, { recursive: true }).catch((err: unknown) => {
      throw localFsError(err, "write", dir);
    });
    return join(dir, randomUUID());
  }

  private async readSidecar(key: string): Promise<Sidecar> {
    try {
      const parsed: unknown = JSON.parse(await readFile(this.sidecarOf(key), "utf8"));
      const contentType = (parsed as { contentType?: unknown } | null)?.contentType;
      return typeof contentType === "string" ? { contentType } : {};
    } catch {
      // A missing or damaged sidecar loses only the content type, never the object.
      return {};
    }
  }

  async get(key: string): Promise<Readable> {
    const path = this.pathOf(key);
    const handle = await open(path, "r").catch((err: unknown) => {
      throw isMissing(err) ? new ObjectNotFoundError(key, this.description) : localFsError(err, "read", path);
    });
    const info = await handle.stat();
    if (!info.isFile()) {
      await handle.close();
      throw new ObjectNotFoundError(key, this.description);
    }
    return handle.createReadStream();
  }

  async getBuffer(key: string): Promise<Buffer> {
    const path = this.pathOf(key);
    return readFile(path).catch((err: unknown) => {
      throw isMissing(err) || errCode(err) === "EISDIR"
        ? new ObjectNotFoundError(key, this.description)
        : localFsError(err, "read", path);
    });
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    if (prefix !== "") assertSafeKey(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
    // Only the folder that can hold matches is walked; keys come out sorted like S3's.
    const folder = prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "";
    const start = folder === "" ? this.root : this.resolveKey(folder, true);
    const skip = folder === "" ? RESERVED : new Set<string>();
    for await (const file of walkFiles(start, skip)) {
      const key = folder === "" ? file.relative : `${folder}/${file.relative}`;
      if (key.startsWith(prefix)) yield { key, size: file.size, lastModified: file.mtime };
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await removeIfPresent(path);
      await removeIfPresent(this.sidecarOf(key));
    } catch (err) {
      throw localFsError(err, "delete", path);
    }
  }

  async copy(
    fromKey: string,
    toKey: string,
    options: Pick<PutOptions, "contentType" | "publicRead"> = {},
  ): Promise<void> {
    const from = this.pathOf(fromKey);
    const to = this.pathOf(toKey);
    const source = await this.head(fromKey);
    if (source === undefined) throw new ObjectNotFoundError(fromKey, this.description);
    const tmp = await this.tempPath();
    try {
      await copyFile(from, tmp);
      await this.commit(tmp, to, toKey, options.contentType ?? source.contentType);
    } catch (err) {
      // Deleted since the check above (a gc run got there first): as if it had never been there.
      if ((err as NodeJS.ErrnoException).code === "ENOENT" && (await this.head(fromKey)) === undefined) {
        throw new ObjectNotFoundError(fromKey, this.description);
      }
      throw localFsError(err, "write", to);
    } finally {
      await removeIfPresent(tmp);
    }
  }

  async assemble(
    parts: readonly { key: string; size: number }[],
    toKey: string,
    options: AssembleOptions = {},
  ): Promise<void> {
    const to = this.pathOf(toKey);
    const paths = parts.map((part) => this.pathOf(part.key));
    for (const [i, part] of parts.entries()) {
      const path = paths[i]!;
      const info = await stat(path).catch((err: unknown) => {
        throw isMissing(err)
          ? new ObjectNotFoundError(part.key, this.description)
          : localFsError(err, "read", path);
      });
      if (!info.isFile()) throw new ObjectNotFoundError(part.key, this.description);
      if (info.size !== part.size) {
        throw new Error(
          `${this.description}: ${part.key} has ${info.size} bytes, ${part.size} were written to it`,
        );
      }
    }
    const only = parts.length === 1 ? paths[0] : undefined;
    // One part is the object already: rename it. Several are joined (no hashing) in a temporary file.
    const tmp = only ?? (await this.tempPath());
    try {
      if (only === undefined) {
        const out = createWriteStream(tmp, { flags: "wx" });
        await pipeline(async function* () {
          for (const path of paths) yield* createReadStream(path);
        }, out);
        const joined = await stat(tmp);
        const expected = parts.reduce((sum, part) => sum + part.size, 0);
        if (joined.size !== expected) {
          throw new Error(
            `${this.description}: joined ${joined.size} bytes for ${toKey}, expected ${expected}`,
          );
        }
      }
      await this.commit(tmp, to, toKey, options.contentType);
    } catch (err) {
      throw localFsError(err, "write", to);
    } finally {
      if (only === undefined) await removeIfPresent(tmp);
    }
    for (const part of parts) await this.delete(part.key);
  }

  async probe(): Promise<void> {
    const key = `${PROBE_DIR}/${randomUUID()}`;
    const path = this.resolveKey(key, true);
    const content = Buffer.from(`raas probe ${new Date().toISOString()}\n`);
    try {
      await this.write(path, key, content, { contentType: "text/plain" });
      const back = await readFile(path);
      if (!back.equals(content)) throw new Error(`${this.description}: probe read back different bytes`);
    } catch (err) {
      throw localFsError(err, "write", path);
    } finally {
      // Cleanup must not hide the reason the probe failed.
      await removeIfPresent(path).catch(() => undefined);
      await removeIfPresent(this.sidecarOf(key)).catch(() => undefined);
    }
  }
}

function errCode(err: unknown): unknown {
  return typeof err === "object" && err != null ? (err as { code?: unknown }).code : undefined;
}

/** rm that also accepts a file standing where a parent folder would be (so nothing to remove). */
/** Remove a file if it is there: one `unlink` (not `rm`, which looks at the path first). */
async function removeIfPresent(path: string): Promise<void> {
  await unlink(path).catch((err: unknown) => {
    if (!isMissing(err)) throw err;
  });
}

function isMissing(err: unknown): boolean {
  const code = errCode(err);
  return code === "ENOENT" || code === "ENOTDIR";
}
