import type { OutgoingHttpHeaders } from "node:http";
import { API_VERSION_HEADER, sendJson, type Req, type Res } from "./http.js";

/** Error codes from the OCI distribution spec (plus NOT_FOUND for paths that are no route at all). */
export type OciErrorCode =
  | "BLOB_UNKNOWN"
  | "BLOB_UPLOAD_INVALID"
  | "BLOB_UPLOAD_UNKNOWN"
  | "DENIED"
  | "MANIFEST_BLOB_UNKNOWN"
  | "MANIFEST_INVALID"
  | "SIZE_INVALID"
  | "UNAUTHORIZED"
  | "DIGEST_INVALID"
  | "MANIFEST_UNKNOWN"
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "PAGINATION_NUMBER_INVALID"
  | "UNSUPPORTED"
  | "TOOMANYREQUESTS"
  | "NOT_FOUND"
  | "UNKNOWN";

/**
 * An expected registry answer that is an error: handlers throw it, and `renderRegistryError`
 * (called only by the request loop in app.ts) turns it into the spec's
 * `{"errors":[{code,message,detail}]}` body. Anything else thrown is a bug: a 500.
 */
export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: OciErrorCode,
    message: string,
    readonly detail?: unknown,
    readonly headers: OutgoingHttpHeaders = {},
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

/** The one place a RegistryError becomes a response. */
export function renderRegistryError(req: Req, res: Res, err: RegistryError): void {
  const error: Record<string, unknown> = { code: err.code, message: err.message };
  if (err.detail !== undefined) error.detail = err.detail;
  sendJson(req, res, err.status, { errors: [error] }, { ...API_VERSION_HEADER, ...err.headers });
}

/** A path that is no route of the registry API. */
export const noRoute = () => new RegistryError(404, "NOT_FOUND", "no such route");
