import { lstat, open, realpath, stat } from "node:fs/promises";
import { join, sep } from "node:path";
import type { Readable } from "node:stream";
import { InputError } from "../errors.js";
import { MetadataBudget } from "./limits.js";
import type { TarIndex } from "./tar-index.js";
import { fileRegionStream } from "../adapters/file-region.js";

/** One regular file of a layout, wherever it lives. */
export interface LayoutFile {
  size: number;
  /** A fresh stream of the file's bytes. */
  open(): Readable;
  /** Reads the file into memory; refuses files over maxBytes. */
  read(maxBytes: number): Promise<Buffer>;
}

/**
 * The files of an OCI layout, either a directory or the members of a tar archive. Callers
 * pass relative paths they built from validated digests; the implementations still refuse
 * anything that would leave the layout.
 */
export interface LayoutFiles {
  /** The path the user gave, for messages. */
  readonly path: string;
  /** undefined when there is no such file. */
  file(relative: string): Promise<LayoutFile | undefined>;
}

function tooLarge(path: string, relative: string, size: number, maxBytes: number): InputError {
  return new InputError(
    path,
    `${relative} is ${size} bytes, more than the ${maxBytes}-byte limit for this kind of file`,
  );
}

export function tarLayoutFiles(archive: TarIndex): LayoutFiles {
  return {
    path: archive.path,
    file(relative) {
      const member = archive.lookup(relative);
      if (member === undefined) return Promise.resolve(undefined);
      return Promise.resolve({
        size: member.size,
        open: () => archive.stream(member),
        read: (maxBytes) => archive.readMember(relative, maxBytes),
      });
    },
  };
}

export async function directoryLayoutFiles(path: string): Promise<LayoutFiles> {
  const root = await realpath(path);
  const budget = new MetadataBudget(path);
  return {
    path,
    async file(relative) {
      const full = join(root, relative);
      const link = await lstat(full).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT" || err.code === "ENOTDIR") return undefined;
        throw err;
      });
      if (link === undefined) return undefined;
      // Resolving the real path also catches a symlinked parent such as blobs/ -> /elsewhere.
      const real = await realpath(full).catch(() => undefined);
      if (real === undefined || !real.startsWith(root + sep)) {
        throw new InputError(path, `${relative} is a symlink pointing outside the layout directory`);
      }
      const info = await stat(real);
      if (!info.isFile()) throw new InputError(path, `${relative} is not a regular file`);
      const size = info.size;
      return {
        size,
        open: () => fileRegionStream(real),
        async read(maxBytes) {
          if (size > maxBytes) throw tooLarge(path, relative, size, maxBytes);
          budget.spend(size, relative);
          const handle = await open(real, "r");
          try {
            const buffer = Buffer.alloc(size);
            const { bytesRead } = await handle.read(buffer, 0, size, 0);
            if (bytesRead !== size) throw new InputError(path, `${relative} changed while it was read`);
            return buffer;
          } finally {
            await handle.close();
          }
        },
      };
    },
  };
}
