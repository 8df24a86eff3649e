/**
 * Typed errors for registry requests that fail authentication or authorization. The server's
 * error renderer turns them into the OCI error body; `toResponse()` does the same for callers that
 * have no renderer.
 */
export type AuthErrorCode = "UNAUTHORIZED" | "DENIED" | "TOOMANYREQUESTS";

export interface AuthResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const STATUS: Record<AuthErrorCode, number> = { UNAUTHORIZED: 401, DENIED: 403, TOOMANYREQUESTS: 429 };

export class RegistryAuthError extends Error {
  readonly status: number;

  constructor(
    readonly code: AuthErrorCode,
    message: string,
    /** E.g. WWW-Authenticate for 401, Retry-After for 429. */
    readonly headers: Readonly<Record<string, string>> = {},
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = "RegistryAuthError";
    this.status = STATUS[code];
  }

  toResponse(): AuthResponse {
    const error = {
      code: this.code,
      message: this.message,
      ...(this.detail === undefined ? {} : { detail: this.detail }),
    };
    return {
      status: this.status,
      headers: { "Content-Type": "application/json", ...this.headers },
      body: JSON.stringify({ errors: [error] }),
    };
  }
}
