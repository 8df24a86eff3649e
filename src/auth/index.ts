/**
 * Identity and access for the registry: the public surface the server and the CLI use.
 * See docs/auth.md for the model and the integration points.
 */
export type { Action, Decision, EnvironmentAction, Identity } from "./engine.js";
export { ACTIONS, ANONYMOUS, explain, explainEnvironment, grantedActions } from "./engine.js";
export type { Policy, Privilege, RegistryMode } from "./policy.js";
export { PRIVILEGES, isPolicyName } from "./policy.js";
export { POLICY_FILE, emptyPolicy, parsePolicy, serializePolicy } from "./policy-file.js";
export { DEFAULT_SCRYPT, hashPassword, newServiceToken, verifyPassword } from "./passwords.js";
export type { KeySet } from "./keys.js";
export { KEY_FILE, ensureKeys, loadKeys, publicJwks, rotateKeys } from "./keys.js";
export type { AccessEntry, Verifier, VerifiedToken } from "./jwt.js";
export { createVerifier, TokenInvalidError } from "./jwt.js";
export type { ExternalIssuerOptions } from "./external.js";
export { createExternalVerifier } from "./external.js";
export type { TokenRequest, TokenService, TokenServiceOptions } from "./token-service.js";
export { createTokenService } from "./token-service.js";
export type { AuthContext, Authorizer, AuthorizerOptions, Caller } from "./authorize.js";
export { createAuthorizer } from "./authorize.js";
export type { AuthErrorCode, AuthResponse } from "./errors.js";
export { RegistryAuthError } from "./errors.js";
export { bearerChallenge } from "./challenge.js";
export { createTokenRoute, sendAuthError, TOKEN_PATH } from "./http.js";
export { createLocalAuth, loadPolicyFile } from "./setup.js";
export type { LoggedIn, LoginOutcome, SessionService, SessionServiceOptions } from "./session.js";
export { createSessionService } from "./session.js";
