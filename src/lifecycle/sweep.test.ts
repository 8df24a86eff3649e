import { describe, expect, it } from "vitest";
import { applyPublication } from "../crane/publication.js";
import type { CraneMetadata } from "../crane/types.js";
import type { Digest } from "../image/digest.js";
import { MediaType } from "../image/media-types.js";
import { emptyReachable, isReachable, markMetadata } from "./reachable.js";
import { classifyKey, SweepPlanner } from "./sweep.js";

const d = (c: string): Digest => `sha256:${c.repeat(64)}`;
const hex = (c: string) => c.repeat(64);

function v4(): CraneMetadata {
  return applyPublication(
    undefined,
    {
      name: "acme/app",
      repository: "acme-app",
      url: "https://s3.example.com/b/acme-app/",
      manifests: [
        { digest: d("1"), mediaType: MediaType.dockerManifest, size: 1, refs: [d("c"), d("a"), d("e")] },
        { digest: d("6"), mediaType: MediaType.ociIndex, size: 1, refs: [d("1")] },
      ],
      blobs: [
        { digest: d("c"), size: 1 },
        { digest: d("a"), size: 1 },
        { digest: d("e"), size: 1, url: "https://vendor.example.com/v2/base/blobs/e" },
      ],
      tags: { "1.0": d("1"), multi: d("6") },
    },
    new Date(),
  );
}

describe("classifyKey", () => {
  it.each([
    [`acme-app/blobs/${d("a")}`, "blob"],
    [`acme-app/manifests/2/${d("1")}`, "manifest"],
    ["acme-app/manifests/list/multi", "manifest"],
    ["acme-app/tags/list", "tags-list"],
    [`acme-app/${hex("b")}/layer`, "v1"],
  ])("%s is a %s", (key, kind) => {
    expect(classifyKey(key)?.kind).toBe(kind);
  });

  it.each([
    ".raas-probe/0b8f",
    ".raas-gc/last.json",
    "_uploads/acme-app/abc",
    "loose-object",
    "acme-app/blobs/sha256:short",
    "acme-app/manifests/3/latest",
    "acme-app/manifests/1/latest",
    "acme-app/notes.txt",
    `Acme-app/blobs/${d("a")}`,
    `acme-app/${hex("b")}/other`,
  ])("never collects %s (not the image layout)", (key) => {
    expect(classifyKey(key)).toBeUndefined();
  });
});

describe("marking and sweep planning", () => {
  it("reaches blobs, manifests by digest and tag, tags/list and v1 files; not vendor layers", () => {
    const reachable = emptyReachable();
    markMetadata(reachable, v4());
    markMetadata(reachable, {
      version: 1,
      repository: "acme-app",
      "repo-registry-id": "acme/app",
      url: "https://s3.example.com/b/acme-app/",
      images: [{ id: hex("b") }],
      tags: { "1.0": hex("b") },
    });
    expect([...reachable.keys].sort()).toEqual(
      [
        `acme-app/${hex("b")}/ancestry`,
        `acme-app/${hex("b")}/json`,
        `acme-app/${hex("b")}/layer`,
        `acme-app/blobs/${d("a")}`,
        `acme-app/blobs/${d("c")}`,
        `acme-app/manifests/2/${d("1")}`,
        "acme-app/manifests/2/1.0",
        `acme-app/manifests/list/${d("6")}`,
        "acme-app/manifests/list/multi",
        "acme-app/tags/list",
      ].sort(),
    );
  });

  it("keeps whole repositories whose metadata it cannot enumerate (Crane v3)", () => {
    const reachable = emptyReachable();
    markMetadata(reachable, {
      version: 3,
      repository: "old-app",
      "repo-registry-id": "old/app",
      url: "https://cdn.example.com/old-app/",
      schema2_data: ["latest"],
    });
    expect(isReachable(reachable, `old-app/blobs/${d("a")}`)).toBe(true);
    expect(isReachable(reachable, `old-apps/blobs/${d("a")}`)).toBe(false);
  });

  it("sweeps only unreachable layout objects older than the cutoff", () => {
    const reachable = emptyReachable();
    markMetadata(reachable, v4());
    const cutoff = new Date("2024-05-01T00:00:00Z");
    const old = new Date("2024-04-01T00:00:00Z");
    const young = new Date("2024-05-01T00:00:01Z");
    const planner = new SweepPlanner(reachable, cutoff);
    const objects = [
      { key: `acme-app/blobs/${d("a")}`, size: 10, lastModified: old },
      { key: `acme-app/blobs/${d("9")}`, size: 20, lastModified: old },
      { key: `acme-app/blobs/${d("8")}`, size: 40, lastModified: young },
      { key: `acme-app/blobs/${d("7")}`, size: 80, lastModified: cutoff },
      { key: `gone-app/manifests/2/${d("1")}`, size: 5, lastModified: old },
      { key: ".raas-gc/last.json", size: 1, lastModified: old },
      { key: "acme-app/readme", size: 1, lastModified: old },
    ];
    for (const object of objects) planner.add(object);
    expect(planner.plan.sweep.map((o) => o.key)).toEqual([
      `acme-app/blobs/${d("9")}`,
      `gone-app/manifests/2/${d("1")}`,
    ]);
    expect(planner.plan.graceKept.map((o) => o.key)).toEqual([
      `acme-app/blobs/${d("8")}`,
      `acme-app/blobs/${d("7")}`,
    ]);
    expect(planner.plan.reachable).toEqual({ count: 1, bytes: 10 });
    expect(planner.plan.foreign).toEqual({ count: 2, bytes: 2 });
  });
});
