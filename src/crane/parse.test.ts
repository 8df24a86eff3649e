import { describe, expect, it } from "vitest";
import { parseMetadata } from "./parse.js";
import { METADATA_GOOD } from "./testing/crane-fixtures.js";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const D3 = `sha256:${"3".repeat(64)}`;

function v4(ext: unknown): string {
  return JSON.stringify({
    version: 4,
    repository: "acme-app",
    "repo-registry-id": "acme/app",
    url: "https://s3.example.com/b/acme-app/",
    schema2_data: [],
    manifest_list_data: [],
    manifest_list_amd64_tags: {},
    "x-raas": ext,
  });
}

const goodExt = {
  version: 1,
  tags: { latest: D1 },
  manifests: {
    [D1]: { mediaType: "application/vnd.docker.distribution.manifest.v2+json", size: 10, refs: [D2] },
  },
  blobs: { [D2]: { size: 5 } },
};

describe("parseMetadata", () => {
  it.each(Object.entries(METADATA_GOOD))("accepts Crane's metadata_good/%s", (file, content) => {
    const meta = parseMetadata(JSON.stringify(content), file);
    expect(meta["repo-registry-id"]).toBe((content as Record<string, unknown>)["repo-registry-id"]);
  });

  it("keeps Crane's version quirk: true means 1", () => {
    const text = JSON.stringify({ ...(METADATA_GOOD["foo.json"] as object), version: true });
    expect(parseMetadata(text, "f.json").version).toBe(1);
    expect(parseMetadata(text.replace('"version":true', '"version":1.0'), "f.json").version).toBe(1);
  });

  it.each([
    ["bad json", "{", "f.json: not valid JSON"],
    ["not an object", "[1]", "f.json: not a JSON object"],
    ["version -1 (metadata_bad/wrong_version.json)", '{"version": -1}', "metadata version -1 not supported"],
    ["version as string", '{"version": "1"}', 'metadata version "1" not supported'],
    ["version false", '{"version": false}', "not supported"],
    ["missing version", "{}", 'missing key "version"'],
    [
      "missing repo-registry-id",
      '{"version": 2, "repository": "r", "url": "u"}',
      'missing key "repo-registry-id"',
    ],
    ["missing url", '{"version": 2, "repository": "r", "repo-registry-id": "a"}', 'missing key "url"'],
    [
      "bad name",
      '{"version": 2, "repository": "r", "repo-registry-id": "A/B", "url": "u"}',
      "not a valid repository name",
    ],
    [
      "repository with slash",
      '{"version": 2, "repository": "../r", "repo-registry-id": "a", "url": "u"}',
      "single path segment",
    ],
    [
      "v1 without images",
      '{"version": 1, "repository": "r", "repo-registry-id": "a", "url": "u", "tags": {}}',
      'missing key "images"',
    ],
    [
      "v1 traversal image id",
      '{"version": 1, "repository": "r", "repo-registry-id": "a", "url": "u", "tags": {}, "images": [{"id": "../x"}]}',
      "safe image id",
    ],
    [
      "v3 without schema2_data",
      '{"version": 3, "repository": "r", "repo-registry-id": "a", "url": "u"}',
      'missing key "schema2_data"',
    ],
    [
      "v4 without lists",
      '{"version": 4, "repository": "r", "repo-registry-id": "a", "url": "u", "schema2_data": []}',
      'missing key "manifest_list_data"',
    ],
    [
      "protected not boolean",
      '{"version": 2, "repository": "r", "repo-registry-id": "a", "url": "u", "protected": "yes"}',
      '"protected" must be true or false',
    ],
  ])("rejects %s", (_label, text, message) => {
    expect(() => parseMetadata(text, "f.json")).toThrow(message);
  });

  it("parses a valid x-raas extension", () => {
    const meta = parseMetadata(v4(goodExt), "acme.json");
    expect(meta.version === 4 && meta["x-raas"]?.tags.latest).toBe(D1);
  });

  it.each([
    ["a bad tag", { ...goodExt, tags: { "-bad": D1 } }, "not a valid tag"],
    ["a tag to an unknown manifest", { ...goodExt, tags: { latest: D3 } }, "listed in x-raas.manifests"],
    [
      "an uppercase digest",
      { ...goodExt, blobs: { [`sha256:${"A".repeat(64)}`]: { size: 1 } } },
      "not a sha256 digest",
    ],
    ["a dangling image ref", { ...goodExt, blobs: {} }, "not listed in x-raas.blobs"],
    [
      "a non-manifest media type",
      { ...goodExt, manifests: { [D1]: { mediaType: "text/plain", size: 1, refs: [] } } },
      "not a manifest type",
    ],
    [
      "a javascript: blob url",
      { ...goodExt, blobs: { [D2]: { size: 5, url: "javascript:alert(1)" } } },
      "absolute http(s) URL",
    ],
    ["a negative size", { ...goodExt, blobs: { [D2]: { size: -1 } } }, "non-negative integer"],
    ["an unknown version", { ...goodExt, version: 2 }, "x-raas.version 2 not supported"],
    [
      "a tag to a digest-shaped string that is no digest",
      { ...goodExt, tags: { latest: `sha256:${"Z".repeat(64)}` } },
      "listed in x-raas.manifests",
    ],
    ["a tag to a non-string", { ...goodExt, tags: { latest: 7 } }, "listed in x-raas.manifests"],
    [
      "an image ref that only looks like a digest",
      {
        ...goodExt,
        manifests: {
          [D1]: {
            mediaType: "application/vnd.docker.distribution.manifest.v2+json",
            size: 10,
            refs: [`sha256:${"Z".repeat(64)}`],
          },
        },
      },
      "not listed in x-raas.blobs",
    ],
    [
      "a ref that is not shaped like a digest",
      {
        ...goodExt,
        manifests: {
          [D1]: {
            mediaType: "application/vnd.docker.distribution.manifest.v2+json",
            size: 10,
            refs: ["x".repeat(1e5)],
          },
        },
      },
      "refs must be an array of sha256 digests",
    ],
    [
      "an index child that is missing",
      {
        ...goodExt,
        manifests: {
          ...goodExt.manifests,
          [D3]: { mediaType: "application/vnd.oci.image.index.v1+json", size: 1, refs: [D2] },
        },
      },
      "not listed in x-raas.manifests",
    ],
  ])("rejects x-raas with %s", (_label, ext, message) => {
    expect(() => parseMetadata(v4(ext), "acme.json")).toThrow(`acme.json: `);
    expect(() => parseMetadata(v4(ext), "acme.json")).toThrow(message);
  });
});
