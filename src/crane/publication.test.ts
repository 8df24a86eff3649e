import { describe, expect, it } from "vitest";
import type { Digest } from "../image/digest.js";
import { MediaType } from "../image/media-types.js";
import { parseMetadata } from "./parse.js";
import { applyPublication, type Publication } from "./publication.js";
import { serializeMetadata } from "./serialize.js";

const d = (c: string): Digest => `sha256:${c.repeat(64)}`;
const NOW = new Date("2024-05-01T12:00:00Z");

function imagePub(manifest: Digest, tag: string, layer: Digest): Publication {
  return {
    name: "acme/app",
    repository: "acme-app",
    url: "https://s3.example.com/bucket/acme-app/",
    manifests: [{ digest: manifest, mediaType: MediaType.dockerManifest, size: 100, refs: [d("c"), layer] }],
    blobs: [
      { digest: d("c"), size: 10, mediaType: MediaType.dockerConfig },
      { digest: layer, size: 20 },
    ],
    tags: { [tag]: manifest },
  };
}

function indexPub(): Publication {
  return {
    name: "acme/app",
    repository: "acme-app",
    url: "https://s3.example.com/bucket/acme-app/",
    manifests: [
      {
        digest: d("4"),
        mediaType: MediaType.ociManifest,
        size: 5,
        refs: [d("c")],
        platform: { os: "linux", architecture: "arm64" },
      },
      {
        digest: d("5"),
        mediaType: MediaType.ociManifest,
        size: 5,
        refs: [d("c")],
        platform: { os: "linux", architecture: "amd64" },
      },
      { digest: d("6"), mediaType: MediaType.ociIndex, size: 9, refs: [d("4"), d("5")] },
    ],
    blobs: [
      { digest: d("c"), size: 10 },
      { digest: d("e"), size: 3, url: "https://vendor.example.com/v2/base/blobs/x" },
    ],
    tags: { multi: d("6") },
  };
}

describe("applyPublication", () => {
  it("creates a v4 file with Crane lists computed from the publication", () => {
    const meta = applyPublication(undefined, imagePub(d("1"), "latest", d("a")), NOW);
    expect(meta).toMatchObject({
      type: "pulp-docker-redirect",
      version: 4,
      repository: "acme-app",
      "repo-registry-id": "acme/app",
      protected: false,
      schema2_data: [d("1"), "latest"],
      manifest_list_data: [],
      manifest_list_amd64_tags: {},
    });
    expect(meta["x-raas"]?.updated).toBe("2024-05-01T12:00:00.000Z");
  });

  it("keeps a file whose content a publication does not change exactly as it was, timestamp included", () => {
    const first = applyPublication(undefined, imagePub(d("1"), "latest", d("a")), NOW);
    const later = new Date("2024-06-01T00:00:00Z");
    const again = applyPublication(first, imagePub(d("1"), "latest", d("a")), later);
    expect(serializeMetadata(again)).toBe(serializeMetadata(first));
    const changed = applyPublication(first, imagePub(d("1"), "stable", d("a")), later);
    expect(changed["x-raas"]?.updated).toBe(later.toISOString());
  });

  it("moves tags, accumulates manifests and blobs, and keeps protected", () => {
    const first = {
      ...applyPublication(undefined, imagePub(d("1"), "latest", d("a")), NOW),
      protected: true,
    };
    const second = applyPublication(first, imagePub(d("2"), "latest", d("b")), NOW);
    expect(second.protected).toBe(true);
    expect(second["x-raas"]?.tags).toEqual({ latest: d("2") });
    expect(Object.keys(second["x-raas"]?.manifests ?? {}).sort()).toEqual([d("1"), d("2")]);
    expect(Object.keys(second["x-raas"]?.blobs ?? {}).sort()).toEqual([d("a"), d("b"), d("c")]);
    expect(second.schema2_data).toEqual([d("1"), d("2"), "latest"]);
  });

  it("lists indexes, their tags and the amd64 child", () => {
    const meta = applyPublication(undefined, indexPub(), NOW);
    expect(meta.manifest_list_data).toEqual([d("6"), "multi"]);
    expect(meta.manifest_list_amd64_tags).toEqual({ multi: [d("5"), 2] });
    expect(meta.schema2_data).toEqual([d("4"), d("5")]);
    expect(meta["x-raas"]?.blobs[d("e")]?.url).toBe("https://vendor.example.com/v2/base/blobs/x");
  });

  it.each([
    ["a bad name", { name: "Acme" }, "not a valid repository name"],
    ["a traversal prefix", { repository: ".." }, "not a valid storage prefix"],
    ["a relative url", { url: "/x" }, "absolute http(s) or file URL"],
    ["a bad tag", { tags: { "bad tag": d("1") } }, "not a valid tag"],
    ["a tag to nothing", { tags: { latest: d("9") } }, "listed in x-raas.manifests"],
    ["a missing layer", { blobs: [] }, "not listed in x-raas.blobs"],
  ])("refuses %s", (_label, change, message) => {
    expect(() =>
      applyPublication(undefined, { ...imagePub(d("1"), "latest", d("a")), ...change }, NOW),
    ).toThrow(message);
  });

  it("refuses to merge into another repository's file", () => {
    const other = applyPublication(
      undefined,
      { ...imagePub(d("1"), "latest", d("a")), name: "acme/other" },
      NOW,
    );
    expect(() => applyPublication(other, imagePub(d("1"), "latest", d("a")), NOW)).toThrow(
      "describes repository acme/other",
    );
  });
});

describe("serializeMetadata", () => {
  it("is deterministic, ordered, round-trips through parseMetadata and ends with a newline", () => {
    const a = applyPublication(undefined, indexPub(), NOW);
    const reversed = Object.fromEntries(Object.entries(a).reverse()) as typeof a;
    const text = serializeMetadata(a);
    expect(serializeMetadata(reversed)).toBe(text);
    expect(text.endsWith("}\n")).toBe(true);
    expect(text.split("\n")[1]).toBe('  "type": "pulp-docker-redirect",');
    expect(Object.keys(JSON.parse(text) as object)).toEqual([
      "type",
      "version",
      "repository",
      "repo-registry-id",
      "url",
      "protected",
      "schema2_data",
      "manifest_list_data",
      "manifest_list_amd64_tags",
      "x-raas",
    ]);
    expect(parseMetadata(text, "acme.json")).toEqual(a);
  });
});
