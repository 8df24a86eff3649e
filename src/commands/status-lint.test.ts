import { describe, expect, it } from "vitest";
import { applyPublication } from "../crane/publication.js";
import type { Digest } from "../image/digest.js";
import { MediaType } from "../image/media-types.js";
import { lintMetadata } from "./status-lint.js";

const hex = (n: number) => n.toString(16).padStart(64, "0");

/** acme/app with `count` tags, each its own manifest over one config. */
function published(count: number) {
  const config: Digest = `sha256:${"c".repeat(64)}`;
  const manifests = Array.from({ length: count }, (_, i) => ({
    digest: `sha256:${hex(i + 1)}` as const,
    mediaType: MediaType.ociManifest,
    size: 100,
    refs: [config],
  }));
  return applyPublication(
    undefined,
    {
      name: "acme/app",
      repository: "acme-app",
      url: "https://s3.example.com/bucket/acme-app/",
      manifests,
      blobs: [{ digest: config, size: 10, mediaType: MediaType.ociConfig }],
      tags: Object.fromEntries(manifests.map((m, i) => [`1.${i}`, m.digest])),
    },
    new Date("2024-05-01T12:00:00Z"),
  );
}

const FILE = "data/isv-acme-app.json";
const MISMATCH = "schema2_data does not match the manifests and tags in x-raas";

describe("lintMetadata: Crane lists against the raas records", () => {
  it("accepts the lists in any order, for a repository with 20,000 tags", () => {
    const meta = published(20_000);
    expect(lintMetadata(meta, FILE, "isv")).toEqual([]);
    expect(lintMetadata({ ...meta, schema2_data: [...meta.schema2_data].reverse() }, FILE, "isv")).toEqual(
      [],
    );
  });

  it("reports a list with an entry missing, replaced or duplicated", () => {
    const meta = published(50);
    const list = meta.schema2_data;
    const variants = [
      list.slice(1),
      [...list.slice(1), "sha256:" + "e".repeat(64)],
      [...list.slice(1), list[2] as string],
    ];
    for (const schema2_data of variants) {
      expect(lintMetadata({ ...meta, schema2_data }, FILE, "isv")).toEqual([MISMATCH]);
    }
  });
});
