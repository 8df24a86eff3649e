/**
 * Where the registry's blob upload sessions live in storage (`.raas-uploads/<id>/`, written by
 * src/server/upload-sessions.ts, swept by src/lifecycle/uploads.ts and GC), and the session ids
 * it issues. Every key under the prefix is built from an id that passed isUploadId.
 */
export const UPLOADS_PREFIX = ".raas-uploads/";
const ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A session id we issued: validated before any key is built from it. */
export function isUploadId(id: string): boolean {
  return ID_RE.test(id);
}
