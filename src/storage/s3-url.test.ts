import { describe, expect, it } from "vitest";
import { UserError } from "../errors.js";
import { describeLocation, encodeKeyPath, endpointLabel, publicObjectUrl } from "./s3-url.js";

const DIGEST_KEY = `app/blobs/sha256:${"ab".repeat(32)}`;

describe("publicObjectUrl", () => {
  it("builds virtual-host URLs for AWS and path-style URLs for custom endpoints", () => {
    expect(
      publicObjectUrl({ region: "eu-west-1", bucket: "isv-images", forcePathStyle: false }, DIGEST_KEY),
    ).toBe(`https://isv-images.s3.eu-west-1.amazonaws.com/${DIGEST_KEY}`);
    expect(publicObjectUrl({ region: "us-east-1", bucket: "isv", forcePathStyle: true }, "a/b")).toBe(
      "https://s3.us-east-1.amazonaws.com/isv/a/b",
    );
    const minio = {
      endpoint: "http://127.0.0.1:9000/",
      region: "us-east-1",
      bucket: "isv",
      forcePathStyle: true,
    };
    expect(publicObjectUrl(minio, DIGEST_KEY)).toBe(`http://127.0.0.1:9000/isv/${DIGEST_KEY}`);
    const prefixed = {
      endpoint: "https://gw.example.com/s3",
      region: "x-1",
      bucket: "isv",
      forcePathStyle: false,
    };
    expect(publicObjectUrl(prefixed, "a/b")).toBe("https://isv.gw.example.com/s3/a/b");
  });

  it("percent-encodes every segment but keeps the sha256: colon", () => {
    expect(encodeKeyPath("app/manifests/2/v1+b=2@x")).toBe("app/manifests/2/v1%2Bb%3D2%40x");
    expect(encodeKeyPath(DIGEST_KEY)).toBe(DIGEST_KEY);
  });

  it("refuses unsafe keys, bad buckets and regions before building a URL", () => {
    const location = { region: "us-east-1", bucket: "isv", forcePathStyle: true };
    expect(() => publicObjectUrl(location, "../x")).toThrow(/unsafe storage key/);
    expect(() => publicObjectUrl(location, "a/?x")).toThrow(/unsafe storage key/);
    expect(() => publicObjectUrl({ ...location, bucket: "evil.com/x" }, "a")).toThrow(UserError);
    expect(() => publicObjectUrl({ ...location, region: "us-east-1.evil.com/" }, "a")).toThrow(UserError);
    expect(() => publicObjectUrl({ ...location, endpoint: "javascript:alert(1)" }, "a")).toThrow(UserError);
  });

  it("describes stores without credentials", () => {
    expect(describeLocation({ region: "us-east-1", bucket: "isv" })).toBe("s3://isv (AWS us-east-1)");
    expect(describeLocation({ endpoint: "http://127.0.0.1:9000", region: "us-east-1", bucket: "isv" })).toBe(
      "s3://isv at http://127.0.0.1:9000",
    );
    expect(endpointLabel({ region: "eu-central-1" })).toBe("https://s3.eu-central-1.amazonaws.com");
    expect(() =>
      endpointLabel({ endpoint: "https://key:secret@s3.example.com", region: "us-east-1" }),
    ).toThrow(/credentials do not belong in the URL/);
  });
});
