import { describe, expect, it } from "vitest";
import { UserError } from "../errors.js";
import { translateS3Error } from "./s3-errors.js";
import { ObjectNotFoundError } from "./types.js";

const context = {
  operation: "PutObject",
  bucket: "isv",
  endpoint: "https://s3.example.com",
  where: "s3://isv at https://s3.example.com",
  key: "app/tags/list",
};

function serviceError(name: string, status: number, message = "server says no"): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

describe("translateS3Error", () => {
  it("finds network failures on the error, its cause or an AggregateError", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const wrapped = new Error("request failed", { cause: new AggregateError([refused]) });
    const error = translateS3Error(wrapped, context);
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      "cannot reach the S3 endpoint https://s3.example.com: connection refused: nothing listens on that port (ECONNREFUSED)",
    );
    expect(translateS3Error(new Error("socket hang up"), context).message).toContain("(socket hang up)");
    expect(
      translateS3Error(Object.assign(new Error("t"), { name: "TimeoutError" }), context).message,
    ).toContain("(TimeoutError)");
  });

  it("maps auth failures, missing buckets, missing keys and missing credentials", () => {
    const denied = translateS3Error(serviceError("SignatureDoesNotMatch", 403, "StringToSign ..."), context);
    expect(denied).toBeInstanceOf(UserError);
    expect(denied.message).toBe(
      "S3 refused PutObject on s3://isv/app/tags/list at https://s3.example.com: SignatureDoesNotMatch",
    );
    expect((denied as UserError).hint).toMatch(/AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY|\[aws\]/);
    expect(translateS3Error(serviceError("Unknown", 403), context).message).toContain(": access denied");
    expect((translateS3Error(serviceError("NoSuchBucket", 404), context) as UserError).hint).toContain(
      "raas setup <isv> --create",
    );
    expect(translateS3Error(serviceError("NoSuchKey", 404), context)).toBeInstanceOf(ObjectNotFoundError);
    const noCredentials = translateS3Error(
      Object.assign(new Error("x"), { name: "CredentialsProviderError" }),
      context,
    );
    expect((noCredentials as UserError).code).toBe("S3_NO_CREDENTIALS");
  });

  it("reports other service errors with their code and status, and leaves bugs alone", () => {
    const other = translateS3Error(
      serviceError("InternalError", 500, "We encountered an internal error"),
      context,
    );
    expect(other).toBeInstanceOf(UserError);
    expect(other.message).toContain("failed with InternalError (HTTP 500)");
    const bug = new TypeError("x is not a function");
    expect(translateS3Error(bug, context)).toBe(bug);
  });
});
