import { open, type FileHandle } from "node:fs/promises";
import type { Readable } from "node:stream";
import { InputError } from "../errors.js";
import { MetadataBudget } from "./limits.js";
import { checkArchiveName, resolveLinkTarget } from "./tar-names.js";
import { indexArchive, readExactly, type TarMember } from "./tar-walk.js";
import { fileRegionStream } from "../adapters/file-region.js";

export type { TarMember, TarMemberType } from "./tar-walk.js";
export { MAX_EXTENDED_HEADER, MAX_MEMBERS, NotTarError } from "./tar-walk.js";

const MAX_LINK_HOPS = 40;

/**
 * An index of an uncompressed tar archive built from its headers alone: member contents are
 * skipped by size and later streamed by offset, so nothing is extracted or held in memory.
 */
export class TarIndex {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly byName: Map<string, TarMember>,
    /** False when the archive ended without its end-of-archive blocks (it may be truncated). */
    readonly complete: boolean,
  ) {
    this.budget = new MetadataBudget(path);
  }

  /** Every document read into memory counts against one budget per input. */
  readonly budget: MetadataBudget;

  static async open(path: string): Promise<TarIndex> {
    const handle = await open(path, "r");
    try {
      const { byName, complete } = await indexArchive(path, handle);
      return new TarIndex(path, handle, byName, complete);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  members(): TarMember[] {
    return [...this.byName.values()];
  }

  /** The member stored under `name` (links not followed). */
  get(name: string): TarMember | undefined {
    const check = checkArchiveName(name);
    return check.ok ? this.byName.get(check.name) : undefined;
  }

  /** The regular file `name` refers to after following links inside the archive; throws when there is none. */
  resolve(name: string): TarMember {
    const member = this.lookup(name);
    if (member === undefined) throw new InputError(this.path, `no member named "${name}" in the archive`);
    return member;
  }

  /**
   * Like resolve(), but undefined when no member has that name. Links are followed only by
   * looking their targets up in this index; bad links (escaping, dangling, cyclic) throw.
   */
  lookup(name: string): TarMember | undefined {
    const check = checkArchiveName(name);
    if (!check.ok) throw new InputError(this.path, check.problem);
    let current = check.name;
    const seen: string[] = [];
    for (;;) {
      const member = this.byName.get(current);
      if (member === undefined) {
        if (seen.length === 0) return undefined;
        throw new InputError(
          this.path,
          `link "${seen.at(-1)}" points to "${current}", which is not in the archive`,
        );
      }
      if (member.type === "file") return member;
      if (member.type === "directory") {
        throw new InputError(this.path, `"${name}" is a directory in the archive, not a file`);
      }
      if (seen.includes(current)) throw new InputError(this.path, `link cycle at "${current}"`);
      seen.push(current);
      if (seen.length > MAX_LINK_HOPS) throw new InputError(this.path, `too many links from "${name}"`);
      current = this.linkDestination(member);
    }
  }

  private linkDestination(member: TarMember): string {
    const target = member.linkTarget ?? "";
    if (member.type === "symlink") {
      const resolved = resolveLinkTarget(member.name, target);
      if (resolved === undefined) {
        throw new InputError(this.path, `symlink "${member.name}" points outside the archive ("${target}")`);
      }
      return resolved;
    }
    // Hard link targets are archive paths, relative to the archive root.
    const check = checkArchiveName(target);
    if (!check.ok || check.name === "") {
      throw new InputError(this.path, `hard link "${member.name}" points outside the archive ("${target}")`);
    }
    return check.name;
  }

  openMember(name: string): Readable {
    return this.stream(this.resolve(name));
  }

  /** A fresh stream of exactly the member's bytes. */
  stream(member: TarMember): Readable {
    return fileRegionStream(this.path, member.offset, member.size);
  }

  /** Reads a small member (a JSON document) into memory, refusing anything over maxBytes. */
  async readMember(name: string, maxBytes: number): Promise<Buffer> {
    const member = this.resolve(name);
    if (member.size > maxBytes) {
      throw new InputError(
        this.path,
        `"${name}" is ${member.size} bytes, more than the ${maxBytes}-byte limit for this kind of file`,
      );
    }
    this.budget.spend(member.size, `"${name}"`);
    return readExactly(this.handle, member.offset, member.size, this.path, name);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
