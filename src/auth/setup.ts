/**
 * Wiring for the local token mode in one call: keys from the state dir, the policy file from the
 * app repository (re-read when it changes on disk), a token service and an authorizer sharing them.
 */
import { readFile, stat } from "node:fs/promises";
import type { Authorizer } from "./authorize.js";
import { createAuthorizer } from "./authorize.js";
import { createVerifier } from "./jwt.js";
import { ensureKeys } from "./keys.js";
import type { Policy } from "./policy.js";
import { MAX_POLICY_BYTES, parsePolicy } from "./policy-file.js";
import type { TokenService } from "./token-service.js";
import { createTokenService } from "./token-service.js";
import { InputError } from "../errors.js";

export async function loadPolicyFile(path: string): Promise<Policy> {
  const info = await stat(path);
  if (info.size > MAX_POLICY_BYTES) throw new InputError(path, `is larger than ${MAX_POLICY_BYTES} bytes`);
  return parsePolicy(await readFile(path, "utf8"), path);
}

export interface LocalAuthOptions {
  /** Where auth-keys.json lives (created 0600 on first use). */
  readonly stateDir: string;
  /** Path of access.yaml. */
  readonly policyFile: string;
  /** Public URL of the token endpoint, e.g. https://registry.example:5000/token. */
  readonly realm: string;
  /** The registry's service name (token audience). */
  readonly service: string;
  readonly issuer?: string;
  readonly ttlSeconds?: number;
  /** Also accept HTTP Basic directly on registry requests (off by default). */
  readonly basic?: boolean;
}

export interface LocalAuth {
  readonly tokens: TokenService;
  readonly authorizer: Authorizer;
  /** Re-read the policy file (e.g. after a deploy); keeps the old policy if the new one is invalid. */
  reload(): Promise<void>;
}

export async function createLocalAuth(options: LocalAuthOptions): Promise<LocalAuth> {
  const keys = await ensureKeys(options.stateDir);
  let policy = await loadPolicyFile(options.policyFile);
  const issuer = options.issuer ?? "raas";
  const tokens = createTokenService({
    policy: () => policy,
    keys,
    issuer,
    service: options.service,
    ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
  });
  const authorizer = createAuthorizer({
    realm: options.realm,
    service: options.service,
    verify: createVerifier({ keys, issuer, service: options.service }),
    policy: () => policy,
    ...(options.basic === true
      ? { basicLogin: (user, secret, address) => tokens.basicLogin(user, secret, address) }
      : {}),
  });
  return {
    tokens,
    authorizer,
    async reload() {
      policy = await loadPolicyFile(options.policyFile);
    },
  };
}
