import type { IncomingMessage } from "node:http";
import type { Digest } from "../image/digest.js";

/**
 * What the web page reads, and all it reads: a narrow view of the registry's metadata that the
 * server builds from its in-memory snapshot (see snapshot-catalog.ts). Nothing here carries a
 * storage URL; vendor-hosted blobs carry only the host they come from.
 */
export interface WebCatalog {
  /** Every repository the registry serves over `/v2/` (protected ones excluded), sorted by name. */
  repositories(): readonly RepositorySummary[];
  /** One repository, or undefined when the registry does not serve it. */
  repository(name: string): RepositoryDetail | undefined;
  /** A manifest's exact bytes (verified against its digest), or undefined when unavailable. */
  manifestBytes(repository: string, digest: Digest): Promise<Buffer | undefined>;
  /** A small blob (an image config) of at most `maxBytes`, verified against its digest. */
  blobBytes(repository: string, digest: Digest, maxBytes: number): Promise<Buffer | undefined>;
}

export interface RepositorySummary {
  name: string;
  tagCount: number;
  /** When raas last wrote the repository's metadata (ISO 8601), when recorded. */
  updated?: string;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ManifestInfo {
  digest: Digest;
  mediaType: string;
  size: number;
  /** Image: config digest first, then layers. Index: child manifests. */
  refs: readonly Digest[];
  platform?: Platform;
}

export interface BlobInfo {
  size: number;
  mediaType?: string;
  /** Host a vendor-hosted (masked) blob is served from; never the URL itself. */
  hostedAt?: string;
}

export interface RepositoryDetail {
  name: string;
  updated?: string;
  /** tag -> manifest digest (raas metadata). Empty for plain Crane files. */
  tags: ReadonlyMap<string, Digest>;
  manifests: ReadonlyMap<Digest, ManifestInfo>;
  blobs: ReadonlyMap<Digest, BlobInfo>;
  /**
   * For plain Crane files (no raas extension): the tags and digests their metadata lists, without
   * sizes or platforms, which only the manifests themselves would tell.
   */
  craneReferences: readonly string[];
}

/** An environment a tag is in (issue 14 fills this in). */
export interface EnvironmentInfo {
  name: string;
  /** When the tag entered the environment (ISO 8601), when known. */
  since?: string;
}

export interface DailyPulls {
  /** `YYYY-MM-DD` (UTC). */
  day: string;
  pulls: number;
}

/** Whether the visitor of `req` may pull `repository`; the page shows nothing else. */
export type CanPull = (repository: string, req: IncomingMessage) => boolean;

/** Who is looking at a page, as the registry's access rules see them. */
export interface Visitor {
  /** The login name; undefined for an anonymous visitor. */
  name?: string;
  /** True when the page's own session cookie says who it is (so the visitor can log out). */
  session: boolean;
  canPull(repository: string): boolean;
  /** Whether a registry client pulls this repository only after `login` (it is not anonymously pullable). */
  needsLogin(repository: string): boolean;
}

export type LoginResult =
  | { ok: true; name: string; session: string; maxAge: number }
  /** `retryAfter` (seconds) when the name or the address is locked after too many failures. */
  | { ok: false; retryAfter?: number };

/** The registry's identities, when `[auth]` is on (src/server/access.ts provides it). */
export interface WebAuth {
  /** local: the page has a login form; external: logins are done by the external token issuer. */
  mode: "local" | "external";
  /** The visitor of `req`: the page's session value when it has one, else the request's own credentials. */
  visitor(req: IncomingMessage, session: string | undefined): Promise<Visitor>;
  /** local mode: check a login with the token service's identities and failed-login limits. */
  login?(username: string, password: string, remoteAddress: string): Promise<LoginResult>;
}

/** Everything optional the server can plug in; sections without data are not rendered. */
export interface WebOptions {
  /** Default: every repository the catalog lists (all of them are public today). Ignored with `auth`. */
  canPull?: CanPull;
  /** Identities and login (auth on): what the visitor may pull comes from here. */
  auth?: WebAuth;
  /** Environments a tag is in; undefined or empty hides the section. */
  environments?: (repository: string, tag: string) => readonly EnvironmentInfo[] | undefined;
  /**
   * Pulls per day of a repository (reference undefined), one tag, or one digest (pulls by digest);
   * undefined or empty hides the chart.
   */
  pullStats?: (
    repository: string,
    reference: string | undefined,
  ) => readonly DailyPulls[] | undefined | Promise<readonly DailyPulls[] | undefined>;
  /**
   * `host[:port]` used in pull commands. Default: the request's Host header (when it is a valid
   * host), else `registry.example`.
   */
  registryHost?: string;
  /** True when clients reach the registry over plain HTTP: pull commands then carry the TLS flags. */
  plainHttp?: boolean;
  /**
   * The directory holding `ca.crt` of the private CA that signed the registry's certificate
   * (`[raas] tls_cert_dir`): pull commands over HTTPS carry `--cert-dir` with it, and a note
   * says where the CA is and how to trust it.
   */
  certDir?: string;
}
