import { UserError } from "../errors.js";

// Failures of the directory itself (permissions, full disk, read-only mount, a file where a
// folder is needed) are the user's to fix; anything else stays a bug with its stack.
const USER_CODES: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  ENOTDIR: "a file is in the way of a folder",
  EISDIR: "a folder is in the way of a file",
  EEXIST: "a file is in the way of a folder",
};

export function localFsError(err: unknown, action: "read" | "write" | "delete", path: string): Error {
  const code = typeof err === "object" && err != null ? (err as { code?: unknown }).code : undefined;
  if (typeof code === "string" && Object.hasOwn(USER_CODES, code)) {
    return new UserError(`cannot ${action} ${path}: ${USER_CODES[code]} (${code})`, {
      hint: "check that the storage directory exists, is writable by this user and has free space",
      code: "LOCAL_STORAGE",
      cause: err,
    });
  }
  return err instanceof Error ? err : new Error(String(err));
}
