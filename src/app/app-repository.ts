/**
 * The ISV app repository as commands see it. `update` is a transaction: it starts from the
 * remote's newest commit, lets `change` read and write files, commits and pushes; if another
 * run pushed first, it starts again from the new commit and calls `change` again, so
 * concurrent publishes merge by meaning, never by text.
 */
export interface AppRepository {
  readonly remote: string;
  update(
    message: string,
    change: (files: RepoFiles) => Promise<void>,
  ): Promise<{ commit: string | undefined; attempts: number }>;
  /** Read a file at the remote's newest commit (undefined when absent). */
  read(path: string): Promise<string | undefined>;
  /**
   * `read`, as bytes: a reader that asks for files ahead of their use keeps them as bytes
   * until then, outside the JavaScript heap.
   */
  readBytes?(path: string): Promise<Buffer | undefined>;
  /** List files under a directory at the remote's newest commit. */
  list(dir: string): Promise<string[]>;
  /** The commit `read` and `list` read (the branch's newest), or undefined for an empty repository. */
  head?(): Promise<string | undefined>;
  /** Start fetching the repository in the background, ahead of the first read. */
  warm?(): void;
  /**
   * Earlier versions of the files under `dir` that commits newer than `since` replaced or
   * removed (garbage collection marks from every state the metadata was in since its cutoff).
   */
  replacedSince?(since: Date, dir: string): Promise<{ commit: string; path: string; text: string }[]>;
}

export interface RepoFiles {
  read(path: string): Promise<string | undefined>;
  write(path: string, data: string | Buffer): Promise<void>;
  /** Remove a file (missing is fine); the commit records the removal. */
  remove(path: string): Promise<void>;
}
