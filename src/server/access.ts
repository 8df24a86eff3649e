/**
 * The registry's one authorization seam (docs/auth.md): every route that serves or changes a
 * repository asks `authorizeRequest(req, name, action, tag?)` first; listings filter with the
 * predicate from `pullFilter(req)`; redirects ask `isPublic(name)` before handing out a public
 * URL. `[auth] mode = off` is today's anonymous registry: everything allowed and public.
 *
 * Local mode builds the token service and authorizer from src/auth with the signing keys read
 * from `[auth] key_dir` (created by `raas setup`; every worker reads the same file, so each
 * verifies tokens itself) and the policy of the current snapshot, so access.yaml changes at the
 * same moment as the metadata. External mode trusts an existing token server instead.
 */
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Action, AuthContext, Authorizer, Policy, SessionService } from "../auth/index.js";
import {
  ANONYMOUS,
  createAuthorizer,
  createExternalVerifier,
  createSessionService,
  createTokenRoute,
  createTokenService,
  createVerifier,
  explain,
  KEY_FILE,
  loadKeys,
  RegistryAuthError,
} from "../auth/index.js";
import { errorMessage, UserError } from "../errors.js";
import type { Visitor, WebAuth } from "../web/index.js";
import type { ServerConfig } from "./config.js";
import { RegistryError } from "./registry-error.js";

export type { Action };

export interface RegistryAccess {
  /**
   * `off` means every check allows (OPEN_ACCESS is the only access in that mode), so the hot
   * path skips the pull check in mode off (v2.ts). An access that may refuse anything, a rate
   * limit included, must not say `off`.
   */
  readonly mode: ServerConfig["auth"]["mode"];
  /**
   * Answers `/token` when this server issues tokens; true when it did. Only local mode issues
   * tokens, so the registry calls it in that mode only (app.ts).
   */
  tokenRoute(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /**
   * Throws a RegistryError (401 with a Bearer challenge, 403 DENIED, 429) unless allowed; returns
   * the caller's name, undefined for anonymous access (and in mode off).
   */
  authorizeRequest(
    req: IncomingMessage,
    name: string,
    action: Action,
    tag?: string,
  ): Promise<string | undefined>;
  /** `GET /v2/`: clients learn the realm here. */
  authorizeBase(req: IncomingMessage): Promise<void>;
  /** `/v2/_catalog`: the caller must hold a catalog grant (or be anonymous in local mode). */
  catalogFilter(req: IncomingMessage): Promise<(name: string) => boolean>;
  /** Search and the web page: what the caller may pull; anonymous when it shows no usable login. */
  pullFilter(req: IncomingMessage): Promise<(name: string) => boolean>;
  /** May anyone pull this repository without a login? Only then may a redirect be a public URL. */
  isPublic(name: string): boolean;
  /** Seconds a presigned redirect to a private repository's content stays valid. */
  readonly privateTtl: number;
  /** The web page's visitors and (local mode) its login form; absent in mode off. */
  readonly web?: WebAuth;
}

/** Today's behaviour: anonymous and public. */
export const OPEN_ACCESS: RegistryAccess = {
  mode: "off",
  tokenRoute: () => Promise.resolve(false),
  authorizeRequest: () => Promise.resolve(undefined),
  authorizeBase: () => Promise.resolve(),
  catalogFilter: () => Promise.resolve(() => true),
  pullFilter: () => Promise.resolve(() => true),
  isPublic: () => true,
  privateTtl: 0,
};

/** A RegistryAuthError as the server's one error type (rendered by renderRegistryError). */
export function asRegistryError(err: unknown): unknown {
  if (!(err instanceof RegistryAuthError)) return err;
  return new RegistryError(err.status, err.code, err.message, err.detail, err.headers);
}

async function guarded<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw asRegistryError(err);
  }
}

async function readConfigured(path: string, what: string): Promise<string> {
  return readFile(path, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`cannot read the ${what} ${path}: ${err.code ?? errorMessage(err)}`, {
      hint: "Check [auth] in registry.conf; `raas setup` writes it.",
    });
  });
}

/**
 * Build the access checks for `config.auth`. `policy` returns the current snapshot's policy
 * (local mode); it is read on every decision, so a reload needs nothing here.
 */
export async function createRegistryAccess(
  config: ServerConfig,
  policy: () => Policy | undefined,
): Promise<RegistryAccess> {
  const auth = config.auth;
  if (auth.mode === "off") return OPEN_ACCESS;
  let authorizer: Authorizer;
  let tokenRoute: RegistryAccess["tokenRoute"] = () => Promise.resolve(false);
  let isPublic: (name: string) => boolean = () => false;
  let sessions: SessionService | undefined;
  if (auth.mode === "local") {
    const keys = await loadKeys(auth.keyDir, { groupRead: auth.keyGroupRead });
    if (keys === undefined) {
      throw new UserError(`no signing keys in ${auth.keyDir} (${KEY_FILE})`, {
        hint: "Run `raas setup <isv>`, which creates them, or fix [auth] key_dir.",
      });
    }
    const current = (): Policy => {
      const value = policy();
      // loadSnapshot refuses to start without a valid policy in local mode.
      if (value === undefined) throw new Error("no access policy loaded");
      return value;
    };
    const tokens = createTokenService({
      policy: current,
      keys,
      issuer: auth.issuer,
      service: auth.service,
      ttlSeconds: auth.tokenTtl,
    });
    authorizer = createAuthorizer({
      realm: auth.realm,
      service: auth.service,
      verify: createVerifier({ keys, issuer: auth.issuer, service: auth.service }),
      policy: current,
      ...(auth.basic
        ? { basicLogin: (user, secret, address) => tokens.basicLogin(user, secret, address) }
        : {}),
    });
    sessions = createSessionService({
      keys,
      issuer: auth.issuer,
      service: auth.service,
      policy: current,
      checkLogin: tokens.checkLogin,
      ttlSeconds: auth.sessionTtl,
    });
    const route = createTokenRoute(tokens);
    tokenRoute = (req, res) => route(req, res);
    isPublic = (name) => explain(current(), ANONYMOUS, "pull", name).allow;
  } else {
    const verify = createExternalVerifier({
      realm: auth.realm,
      service: auth.service,
      issuer: auth.issuer,
      ...(auth.rootCerts !== ""
        ? { rootCertBundle: await readConfigured(auth.rootCerts, "root certificate bundle") }
        : { jwks: parseJwks(await readConfigured(auth.jwks, "JWKS file"), auth.jwks) }),
    });
    authorizer = createAuthorizer({ realm: auth.realm, service: auth.service, verify });
  }
  const anonymous: AuthContext = { caller: ANONYMOUS, token: false };
  // A page or a search is never refused: without a usable login it shows what is public.
  const requestContext = (req: IncomingMessage) =>
    authorizer.authorizeBase(req).catch((err: unknown) => {
      if (err instanceof RegistryAuthError) return anonymous;
      throw err;
    });
  const visitorOf = (context: AuthContext, session: boolean): Visitor => ({
    ...(context.caller.kind === "anonymous" ? {} : { name: context.caller.name }),
    session,
    canPull: (name) => authorizer.canPull(context, name),
    needsLogin: (name) => !isPublic(name),
  });
  const login = sessions?.login;
  const web: WebAuth = {
    mode: auth.mode,
    visitor: async (req, session) => {
      const identity = session === undefined ? undefined : await sessions?.verify(session);
      if (identity !== undefined) return visitorOf({ caller: identity, token: true }, true);
      return visitorOf(await requestContext(req), false);
    },
    ...(login === undefined
      ? {}
      : {
          login: async (username, password, address) => {
            const outcome = await login(username, password, address);
            return outcome.ok
              ? { ok: true, name: outcome.identity.name, session: outcome.session, maxAge: outcome.maxAge }
              : outcome;
          },
        }),
  };
  return {
    web,
    mode: auth.mode,
    privateTtl: auth.privateTtl,
    tokenRoute,
    isPublic,
    authorizeRequest: async (req, name, action, tag) => {
      const { caller } = await guarded(authorizer.authorize(req, name, action, tag));
      return caller.kind === "anonymous" ? undefined : caller.name;
    },
    authorizeBase: async (req) => {
      await guarded(authorizer.authorizeBase(req));
    },
    catalogFilter: async (req) => {
      const context = await guarded(authorizer.authorizeCatalog(req));
      return (name) => authorizer.canPull(context, name);
    },
    pullFilter: async (req) => {
      const context = await requestContext(req);
      return (name) => authorizer.canPull(context, name);
    },
  };
}

function parseJwks(text: string, file: string): { keys: never[] } {
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === "object" && value !== null && Array.isArray((value as { keys?: unknown }).keys)) {
      return value as { keys: never[] };
    }
  } catch {
    // reported below
  }
  throw new UserError(`${file}: not a JWKS (a JSON object with a "keys" array)`);
}
