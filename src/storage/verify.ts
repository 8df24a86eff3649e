import { DigestMismatchError, type PutOptions, type PutResult } from "./types.js";

/**
 * The check every store makes before a written object becomes visible at its key: the bytes
 * are the ones promised (PutOptions.digest and .size, where given). Returns `actual`; throws
 * DigestMismatchError with both otherwise.
 */
export function verifyPut(
  key: string,
  promised: Pick<PutOptions, "digest" | "size">,
  actual: PutResult,
): PutResult {
  const { digest, size } = promised;
  if ((digest !== undefined && digest !== actual.digest) || (size !== undefined && size !== actual.size)) {
    throw new DigestMismatchError(
      key,
      { ...(digest === undefined ? {} : { digest }), ...(size === undefined ? {} : { size }) },
      actual,
    );
  }
  return actual;
}
