/**
 * Snapshots read from the followed app repository at a commit (follow mode, docs/server.md).
 * The first load reads every metadata file of the commit; every later one asks git what
 * changed between the commit it holds and the new one (`diff-tree`), reads and parses only
 * those files, and assembles the index again from the parsed files it keeps (assembling is
 * cheap: no reading, no parsing). Validation and problem lines are those of a load from disk
 * (crane/load.ts), so the index is the one a checkout of the commit would give. A snapshot is
 * named by its commit id; a load that fails leaves the held state untouched.
 */
import type { Policy } from "../auth/index.js";
import { parsePolicy, POLICY_FILE } from "../auth/index.js";
import { MAX_POLICY_BYTES } from "../auth/policy-file.js";
import {
  assembleIndex,
  isMetadataFile,
  parseMetadataFile,
  type LogFn,
  type ParsedFile,
} from "../crane/load.js";
import { APPROVALS_FILE, parseApprovals } from "../environments/approvals.js";
import { sha256Digest, type Digest } from "../image/digest.js";
import { UserError } from "../errors.js";
import type { ServerConfig } from "./config.js";
import type { FollowRepository, PathState } from "./follow-git.js";
import { manifestKey, servedManifest, type ServedManifest, type Snapshot } from "./snapshot.js";

/** Where the app repository keeps what the registry reads (docs/app-repo.md). */
export const DATA_PATH = "data";
export const MANIFEST_PATH = "manifests";
/** A manifest larger than the push API accepts is not one the registry serves from memory. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

interface Held {
  commit: string;
  /** Parsed metadata files by path under data/. */
  parsed: Map<string, ParsedFile>;
  /** Manifest files by `<repository>/<digest>` under manifests/, with whether the bytes match the name. */
  manifests: Map<string, { bytes: Buffer; matches: boolean }>;
  policyText: string | undefined;
  approvalsText: string | undefined;
}

type Target =
  | { kind: "data"; rel: string }
  | { kind: "manifest"; rel: string }
  | { kind: "policy" }
  | { kind: "approvals" };

/** What a path of the app repository is to the registry, or undefined when it is nothing. */
function targetOf(path: string): Target | undefined {
  if (path === POLICY_FILE) return { kind: "policy" };
  if (path === APPROVALS_FILE) return { kind: "approvals" };
  if (path.startsWith(`${DATA_PATH}/`)) {
    const rel = path.slice(DATA_PATH.length + 1);
    return isMetadataFile(rel) ? { kind: "data", rel } : undefined;
  }
  if (path.startsWith(`${MANIFEST_PATH}/`)) {
    const rel = path.slice(MANIFEST_PATH.length + 1);
    return rel.split("/").length === 2 ? { kind: "manifest", rel } : undefined;
  }
  return undefined;
}

const byPath = (a: ParsedFile, b: ParsedFile) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0);

export class FollowedMetadata {
  private held: Held | undefined;
  private current: Snapshot | undefined;
  /** Files parsed by the last load (for tests and the reload log). */
  lastParsed = 0;

  constructor(
    readonly repository: FollowRepository,
    private readonly config: ServerConfig,
    private readonly log: LogFn,
  ) {}

  /** The commit of the held snapshot, if any. */
  get commit(): string | undefined {
    return this.held?.commit;
  }

  /** Load `commit` as a snapshot, re-reading only what changed since the held one. */
  async load(commit: string): Promise<Snapshot> {
    if (this.held?.commit === commit && this.current !== undefined) {
      this.lastParsed = 0;
      return this.current;
    }
    const paths = [DATA_PATH, MANIFEST_PATH, POLICY_FILE, APPROVALS_FILE];
    let previous = this.held;
    let changes: PathState[];
    if (previous === undefined) {
      changes = await this.repository.listTree(commit, paths);
    } else {
      try {
        changes = await this.repository.diff(previous.commit, commit, paths);
      } catch {
        // The held commit is gone (a force-push, then a prune): read the new one whole.
        changes = await this.repository.listTree(commit, paths);
        previous = undefined;
      }
    }
    const next: Held = {
      commit,
      parsed: new Map(previous?.parsed),
      manifests: new Map(previous?.manifests),
      policyText: previous?.policyText,
      approvalsText: previous?.approvalsText,
    };
    const wanted = new Map<string, Target[]>();
    for (const change of changes) {
      const target = targetOf(change.path);
      if (target === undefined) continue;
      if (change.oid === undefined) {
        forget(next, target);
        continue;
      }
      const list = wanted.get(change.oid) ?? [];
      list.push(target);
      wanted.set(change.oid, list);
    }
    let parsedCount = 0;
    await this.repository.readBlobs([...wanted.keys()], (oid, data) => {
      for (const target of wanted.get(oid) ?? []) {
        if (target.kind === "data") parsedCount++;
        apply(next, target, data);
      }
    });
    const snapshot = this.assemble(next);
    this.held = next;
    this.current = snapshot;
    this.lastParsed = parsedCount;
    return snapshot;
  }

  private assemble(held: Held): Snapshot {
    const policy = this.config.auth.mode === "local" ? this.policy(held) : undefined;
    const walk = { files: [], dirs: [], problems: [] };
    const index = assembleIndex([...held.parsed.values()].sort(byPath), this.log, walk);
    const manifests = new Map<string, ServedManifest>();
    for (const { meta, file } of index.v2.values()) {
      if (meta.version !== 4 || meta["x-raas"] === undefined) continue;
      for (const [digest, record] of Object.entries(meta["x-raas"].manifests) as [
        Digest,
        { mediaType: string },
      ][]) {
        const key = manifestKey(meta.repository, digest);
        const found = held.manifests.get(key);
        if (found === undefined) continue; // Not in the app repo: served from storage instead.
        if (!found.matches) {
          this.log(
            `skipping manifest ${MANIFEST_PATH}/${key} (listed by ${file}): its content does not match its digest`,
          );
          continue;
        }
        manifests.set(key, servedManifest(found.bytes, digest, record.mediaType));
      }
    }
    return {
      index,
      manifests,
      blobRedirects: new Map(),
      fingerprint: held.commit,
      loadedAt: new Date(),
      ...(policy === undefined ? {} : { policy }),
      approvals: parseApprovals(held.approvalsText),
    };
  }

  /** access.yaml of the commit; missing or invalid fails the load, and the old snapshot stays. */
  private policy(held: Held): Policy {
    const where = `${POLICY_FILE} at commit ${held.commit.slice(0, 12)}`;
    if (held.policyText === undefined) {
      throw new UserError(`the access policy ${where} does not exist`, {
        hint: "`raas setup` creates access.yaml in the app repository.",
      });
    }
    if (Buffer.byteLength(held.policyText) > MAX_POLICY_BYTES) {
      throw new UserError(`the access policy ${where} is larger than ${MAX_POLICY_BYTES} bytes`);
    }
    return parsePolicy(held.policyText, where);
  }
}

function forget(held: Held, target: Target): void {
  if (target.kind === "data") held.parsed.delete(target.rel);
  else if (target.kind === "manifest") held.manifests.delete(target.rel);
  else if (target.kind === "policy") held.policyText = undefined;
  else held.approvalsText = undefined;
}

function apply(held: Held, target: Target, data: Buffer): void {
  if (target.kind === "data") {
    held.parsed.set(target.rel, parseMetadataFile(target.rel, data.toString("utf8")));
  } else if (target.kind === "manifest") {
    if (data.length > MAX_MANIFEST_BYTES) {
      held.manifests.delete(target.rel);
      return;
    }
    const digest = target.rel.slice(target.rel.indexOf("/") + 1);
    // A copy: `data` may be a view of git's read buffer, which must not stay alive with it.
    const bytes = Buffer.from(data);
    held.manifests.set(target.rel, { bytes, matches: sha256Digest(bytes) === digest });
  } else if (target.kind === "policy") {
    held.policyText = data.toString("utf8");
  } else {
    held.approvalsText = data.toString("utf8");
  }
}
