import { setTimeout as sleep } from "node:timers/promises";
import { UserError, errorMessage } from "../../errors.js";
import { networkHint, networkProblem, type TlsHints } from "../../network-errors.js";
import { isDigest, sha256Digest, type Digest } from "../../image/digest.js";
import { INDEX_TYPES, IMAGE_MANIFEST_TYPES, MANIFEST_ACCEPT } from "../../image/media-types.js";
import { isTag } from "../../image/names.js";
import { isJsonObject } from "../../image/records.js";
import { basicHeader, parseChallenge } from "./auth.js";
import type { Credentials } from "./credentials.js";
import {
  BodyTooLargeError,
  readBody,
  RedirectTargetError,
  request,
  type Response,
  type TransportOptions,
} from "./http.js";

/** Manifests and indexes over 4 MiB are refused (the distribution spec's SHOULD-accept size). */
export const MANIFEST_LIMIT = 4 * 1024 * 1024;
const TOKEN_LIMIT = 64 * 1024;
const TAGS_PAGE_LIMIT = 4 * 1024 * 1024;
/** A repository with more tags than this is refused rather than listed into memory. */
export const MAX_TAGS = 100_000;
const MAX_TAG_PAGES = 1000;

export interface ClientOptions {
  transport: TransportOptions;
  credentials?: Credentials;
  /** Attempts for one request on 5xx, 429 and connection errors (default 4). */
  attempts?: number;
  /** First backoff delay; doubled each retry (default 250 ms). */
  backoffMs?: number;
}

/** A manifest as the upstream served it: exact bytes, verified digest, declared type. */
export interface FetchedManifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

export class UpstreamError extends UserError {
  constructor(message: string, options: { hint?: string; cause?: unknown; status?: number } = {}) {
    super(message, { code: "UPSTREAM", ...options });
    this.name = "UpstreamError";
    this.status = options.status;
  }
  readonly status: number | undefined;
}

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);

/** For docker:// sources, TLS is set with --src-tls-verify and --src-ca, never with a URL scheme. */
const SOURCE_TLS: TlsHints = {
  notTls: "A plain HTTP registry needs --src-tls-verify false (which also allows plain HTTP).",
  certificate:
    "Give the authority that signed it with --src-ca <file>, or skip verification with --src-tls-verify false.",
};

/** A request that got no answer: what went wrong in words (network-errors.ts), and what to do. */
function unreachable(what: string, err: unknown): UpstreamError {
  const found = networkProblem(err);
  // A failure at a redirect's target (blob storage, a CDN) names that host, not the registry.
  const where = err instanceof RedirectTargetError ? `after a redirect to ${err.host}: ` : "";
  const problem = found === undefined ? errorMessage(err) : `${where}${found.problem}`;
  return new UpstreamError(`${what}: ${problem}`, {
    cause: err,
    hint:
      found === undefined
        ? "Check the host and port, the network, and --src-tls-verify / --src-ca for TLS problems."
        : networkHint(found, SOURCE_TLS),
  });
}

/**
 * The client id sent with an identity token. Such tokens come from `docker login` (docker's
 * config.json or its credential helpers), and token services bind a refresh token to the client
 * it was issued to, which docker names "docker".
 */
const IDENTITY_TOKEN_CLIENT_ID = "docker";
const ERROR_BODY_LIMIT = 16 * 1024;

/**
 * The first error code of a registry or token-service error body (`{"errors":[{"code"}]}` or
 * OAuth2's `{"error"}`), for messages. Bounded, and only a code-shaped word is ever shown.
 */
async function errorCode(response: Response): Promise<string | undefined> {
  if (!String(response.headers["content-type"] ?? "").includes("json")) {
    response.body.resume();
    return undefined;
  }
  try {
    const doc = JSON.parse((await readBody(response.body, ERROR_BODY_LIMIT)).toString("utf8")) as {
      errors?: { code?: unknown }[];
      error?: unknown;
    };
    const code = Array.isArray(doc.errors) ? doc.errors[0]?.code : doc.error;
    return typeof code === "string" && /^[A-Za-z_]{1,40}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A client for one upstream v2 registry: token or basic auth on demand, retries with
 * exponential backoff on 5xx/429/connection resets, and every answer checked before use.
 */
export class RegistryClient {
  private readonly tokens = new Map<string, string>();
  private basic = false;
  /** Requests and bytes of response bodies read, for reports and benchmarks. */
  readonly stats = { requests: 0, manifestBytes: 0, blobRequests: 0 };

  constructor(
    readonly host: string,
    private readonly options: ClientOptions,
  ) {
    this.scheme = options.transport.plainHttp ? "http" : "https";
    this.schemeSettled = options.transport.plainHttp || options.transport.tlsVerify;
  }

  /**
   * HTTPS unless told otherwise. With TLS verification off, a registry that does not speak
   * TLS at all is retried once over plain HTTP, as skopeo does with --tls-verify=false.
   */
  private scheme: "https" | "http";
  private schemeSettled: boolean;

  /** The credentials this client answers challenges with (undefined: anonymous). */
  get credentials(): Credentials | undefined {
    return this.options.credentials;
  }

  private get base(): string {
    return `${this.scheme}://${this.host}`;
  }

  private where(name: string): string {
    return `docker://${this.host}/${name}`;
  }

  private authHeader(scope: string): Record<string, string> {
    const token = this.tokens.get(scope);
    if (token !== undefined) return { Authorization: `Bearer ${token}` };
    const creds = this.options.credentials;
    if (this.basic && creds !== undefined) {
      return { Authorization: basicHeader(creds.username, creds.password) };
    }
    return {};
  }

  /**
   * One request with auth and retries. On 401 the challenge is answered once (a token for
   * the repository's pull scope, or basic credentials) and the request repeated.
   */
  async send(method: "GET" | "HEAD", path: string, name: string, accept?: string): Promise<Response> {
    const scope = `repository:${name}:pull`;
    const attempts = this.options.attempts ?? 4;
    let authenticated = false;
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = { ...this.authHeader(scope) };
      if (accept !== undefined) headers.Accept = accept;
      let response: Response;
      try {
        this.stats.requests++;
        response = await request(method, new URL(path, this.base), headers, this.options.transport);
      } catch (err) {
        if (!this.schemeSettled) {
          this.schemeSettled = true;
          this.scheme = "http";
          attempt--;
          continue;
        }
        if (attempt < attempts) {
          await this.backoff(attempt);
          continue;
        }
        throw unreachable(`${this.where(name)}: cannot reach ${this.host}`, err);
      }
      this.schemeSettled = true;
      if (response.status === 401 && !authenticated) {
        response.body.resume();
        const challenge = parseChallenge(String(response.headers["www-authenticate"] ?? ""));
        await this.authenticate(challenge, scope, name);
        authenticated = true;
        attempt--;
        continue;
      }
      if (RETRY_STATUS.has(response.status) && attempt < attempts) {
        response.body.resume();
        await this.backoff(attempt, response.headers["retry-after"]);
        continue;
      }
      return response;
    }
  }

  private async backoff(attempt: number, retryAfter?: string | string[]): Promise<void> {
    const base = this.options.backoffMs ?? 250;
    const seconds = typeof retryAfter === "string" ? Number(retryAfter) : NaN;
    const wait =
      Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds * 1000, 30_000) : base * 2 ** (attempt - 1);
    await sleep(wait * (0.8 + Math.random() * 0.4));
  }

  private async authenticate(
    challenge: ReturnType<typeof parseChallenge>,
    scope: string,
    name: string,
  ): Promise<void> {
    const creds = this.options.credentials;
    const denied = (detail: string): never => {
      throw new UpstreamError(`${this.where(name)}: ${detail}`, {
        status: 401,
        hint:
          creds === undefined
            ? "Log in (skopeo login / podman login / docker login) or set RAAS_SRC_USERNAME and RAAS_SRC_PASSWORD."
            : `Check the credentials from ${creds.from}.`,
      });
    };
    if (challenge?.scheme === "basic") {
      if (creds === undefined || this.basic) denied("the registry asks for a user name and password");
      if (creds?.identityToken !== undefined) {
        denied(`the registry asks for a user name and password; ${creds.from} holds an identity token`);
      }
      this.basic = true;
      return;
    }
    if (challenge?.scheme !== "bearer") {
      return denied("unauthorized, and no usable WWW-Authenticate challenge");
    }
    // A token that stopped working (expired during a long sync) is replaced once per request.
    this.tokens.delete(scope);
    const realm = challenge.params.realm;
    let url: URL;
    try {
      url = new URL(realm ?? "");
    } catch {
      return denied(`the token realm ${JSON.stringify((realm ?? "").slice(0, 200))} is not a URL`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") denied(`the token realm uses ${url.protocol}`);
    let response: Response;
    try {
      this.stats.requests++;
      response = await this.requestToken(url, challenge.params.service, scope);
    } catch (err) {
      throw unreachable(`${this.where(name)}: cannot reach the token service ${url.host}`, err);
    }
    if (response.status !== 200) {
      const code = await errorCode(response);
      denied(
        `the token service ${url.host} answered HTTP ${response.status}${code === undefined ? "" : ` (${code})`}` +
          (creds?.identityToken === undefined ? "" : ` to the identity token from ${creds.from}`),
      );
    }
    let doc: unknown;
    try {
      doc = JSON.parse((await readBody(response.body, TOKEN_LIMIT)).toString("utf8"));
    } catch (err) {
      return denied(
        `the token service ${url.host} sent no usable token (${err instanceof BodyTooLargeError ? "too large" : "not JSON"})`,
      );
    }
    const token = isJsonObject(doc) ? (doc.token ?? doc.access_token) : undefined;
    // Token text goes into a header: refuse anything that could smuggle header syntax.
    if (typeof token !== "string" || !/^[\x21-\x7e]{1,8192}$/.test(token)) {
      return denied(`the token service ${url.host} sent no usable token`);
    }
    this.tokens.set(scope, token);
  }

  /**
   * Asks the token service for a pull token. With an identity token, the OAuth2 form of the
   * token spec (POST, grant_type=refresh_token); otherwise GET with HTTP Basic credentials, or
   * none for an anonymous token.
   */
  private requestToken(realm: URL, service: string | undefined, scope: string): Promise<Response> {
    const creds = this.options.credentials;
    if (creds?.identityToken !== undefined) {
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: creds.identityToken,
        client_id: IDENTITY_TOKEN_CLIENT_ID,
        scope,
      });
      if (service !== undefined) form.set("service", service);
      return request(
        "POST",
        realm,
        { "Content-Type": "application/x-www-form-urlencoded" },
        this.options.transport,
        Buffer.from(form.toString(), "utf8"),
      );
    }
    const url = new URL(realm);
    if (service !== undefined) url.searchParams.set("service", service);
    url.searchParams.set("scope", scope);
    const headers: Record<string, string> = {};
    if (creds !== undefined) headers.Authorization = basicHeader(creds.username, creds.password);
    return request("GET", url, headers, this.options.transport);
  }

  private async failure(name: string, what: string, response: Response): Promise<UpstreamError> {
    const status = response.status;
    const code = await errorCode(response);
    const creds = this.options.credentials;
    const hint =
      status === 404
        ? "Check the repository name and the tag or digest."
        : status === 401 || status === 403
          ? creds === undefined
            ? "No credentials were found for this registry: log in (skopeo login / podman login / docker login) or set RAAS_SRC_USERNAME and RAAS_SRC_PASSWORD."
            : `Check that the credentials from ${creds.from} may pull this repository.`
          : undefined;
    return new UpstreamError(
      `${this.where(name)}: ${what} answered HTTP ${status}${code === undefined ? "" : ` (${code})`}`,
      {
        status,
        ...(hint === undefined ? {} : { hint }),
      },
    );
  }

  /** The digest a tag or digest currently resolves to, with one HEAD (GET if HEAD gives no digest). */
  async resolve(name: string, reference: string): Promise<{ digest: Digest; mediaType: string }> {
    const response = await this.send("HEAD", `/v2/${name}/manifests/${reference}`, name, MANIFEST_ACCEPT);
    if (response.status !== 200) throw await this.failure(name, `HEAD manifest ${reference}`, response);
    response.body.resume();
    const digest = response.headers["docker-content-digest"];
    const mediaType =
      String(response.headers["content-type"] ?? "")
        .split(";")[0]
        ?.trim() ?? "";
    if (typeof digest === "string" && isDigest(digest) && isManifestType(mediaType)) {
      if (isDigest(reference) && digest !== reference) {
        throw new UpstreamError(`${this.where(name)}: asked for ${reference}, the registry says ${digest}`);
      }
      return { digest, mediaType };
    }
    const manifest = await this.manifest(name, reference);
    return { digest: manifest.digest, mediaType: manifest.mediaType };
  }

  /** GET a manifest: exact bytes, bounded, hashed and checked against what was asked and said. */
  async manifest(name: string, reference: string): Promise<FetchedManifest> {
    const what = `manifest ${reference}`;
    const response = await this.send("GET", `/v2/${name}/manifests/${reference}`, name, MANIFEST_ACCEPT);
    if (response.status !== 200) throw await this.failure(name, `GET ${what}`, response);
    const mediaType =
      String(response.headers["content-type"] ?? "")
        .split(";")[0]
        ?.trim() ?? "";
    if (!isManifestType(mediaType)) {
      response.body.resume();
      throw new UpstreamError(
        `${this.where(name)}: ${what} has media type ${JSON.stringify(mediaType.slice(0, 200))}, not an image manifest or index raas can publish`,
        {
          hint: "raas publishes OCI and Docker schema 2 manifests and indexes; schema 1 images must be converted first.",
        },
      );
    }
    let bytes: Buffer;
    try {
      bytes = await readBody(response.body, MANIFEST_LIMIT);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        throw new UpstreamError(
          `${this.where(name)}: ${what} is larger than the ${MANIFEST_LIMIT}-byte limit`,
        );
      }
      throw new UpstreamError(`${this.where(name)}: reading ${what} failed (${errorMessage(err)})`, {
        cause: err,
      });
    }
    this.stats.manifestBytes += bytes.length;
    const digest = sha256Digest(bytes);
    if (isDigest(reference) && digest !== reference) {
      throw new UpstreamError(`${this.where(name)}: ${what} hashes to ${digest}, not the digest asked for`);
    }
    const said = response.headers["docker-content-digest"];
    if (typeof said === "string" && said.startsWith("sha256:") && said !== digest) {
      throw new UpstreamError(
        `${this.where(name)}: ${what} hashes to ${digest}, but the registry says ${said.slice(0, 80)}`,
      );
    }
    return { digest, mediaType, bytes };
  }

  /** GET a blob as a stream, its length checked against what the manifest declares. */
  async blob(name: string, digest: Digest, size: number): Promise<Response> {
    this.stats.blobRequests++;
    const response = await this.send("GET", `/v2/${name}/blobs/${digest}`, name);
    if (response.status !== 200) throw await this.failure(name, `GET blob ${digest}`, response);
    const length = response.headers["content-length"];
    if (length !== undefined && Number(length) !== size) {
      response.body.destroy();
      throw new UpstreamError(
        `${this.where(name)}: blob ${digest} is ${length} bytes, the manifest says ${size}`,
      );
    }
    return response;
  }

  /** Every tag of a repository, following `Link` pagination; tags are checked against the grammar. */
  async tags(name: string): Promise<string[]> {
    const tags: string[] = [];
    let path: string | undefined = `/v2/${name}/tags/list?n=1000`;
    for (let page = 0; path !== undefined; page++) {
      if (page >= MAX_TAG_PAGES) {
        throw new UpstreamError(`${this.where(name)}: more than ${MAX_TAG_PAGES} pages of tags`);
      }
      const response = await this.send("GET", path, name);
      if (response.status !== 200) throw await this.failure(name, "GET tags/list", response);
      let doc: unknown;
      try {
        doc = JSON.parse((await readBody(response.body, TAGS_PAGE_LIMIT)).toString("utf8"));
      } catch (err) {
        throw new UpstreamError(
          `${this.where(name)}: tags/list is not a JSON document within ${TAGS_PAGE_LIMIT} bytes`,
          { cause: err },
        );
      }
      const list: unknown = isJsonObject(doc) ? doc.tags : undefined;
      if (list !== null && list !== undefined && !Array.isArray(list)) {
        throw new UpstreamError(`${this.where(name)}: tags/list has no tags array`);
      }
      const entries: readonly unknown[] = list ?? [];
      for (const tag of entries) {
        if (typeof tag !== "string" || !isTag(tag)) {
          throw new UpstreamError(
            `${this.where(name)}: tags/list holds ${JSON.stringify(tag)?.slice(0, 200)}, not a valid tag`,
          );
        }
        if (tags.length >= MAX_TAGS) {
          throw new UpstreamError(`${this.where(name)}: more than ${MAX_TAGS} tags`);
        }
        tags.push(tag);
      }
      path = nextPage(response.headers.link, name);
    }
    return [...new Set(tags)];
  }
}

function isManifestType(mediaType: string): boolean {
  return IMAGE_MANIFEST_TYPES.has(mediaType) || INDEX_TYPES.has(mediaType);
}

/** `Link: </v2/name/tags/list?last=x&n=1000>; rel="next"`; only same-repository paths are followed. */
function nextPage(link: string | string[] | undefined, name: string): string | undefined {
  if (typeof link !== "string") return undefined;
  const match = /<([^>]*)>\s*;\s*rel="?next"?/.exec(link);
  if (match?.[1] === undefined) return undefined;
  const url = new URL(match[1], "http://upstream.invalid");
  if (url.pathname !== `/v2/${name}/tags/list`) return undefined;
  return `${url.pathname}${url.search}`;
}
