import { describe, expect, it } from "vitest";
import { applyPublication, type Publication } from "../crane/publication.js";
import type { CraneV4 } from "../crane/types.js";
import { UserError } from "../errors.js";
import type { Digest } from "../image/digest.js";
import { MediaType } from "../image/media-types.js";
import { parseDeleteReference, planDeletion } from "./deletion.js";

const d = (c: string): Digest => `sha256:${c.repeat(64)}`;
const NOW = new Date("2024-05-01T12:00:00Z");
const LATER = new Date("2024-05-02T12:00:00Z");

const base = { name: "acme/app", repository: "acme-app", url: "https://s3.example.com/b/acme-app/" };

/** Two images sharing config c: m1 (layer a, tags 1.0 and stable), m2 (layer b, tag 2.0); an index 6 over 4 and 5. */
function repository(): CraneV4 {
  const pubs: Publication[] = [
    {
      ...base,
      manifests: [{ digest: d("1"), mediaType: MediaType.dockerManifest, size: 100, refs: [d("c"), d("a")] }],
      blobs: [
        { digest: d("c"), size: 10 },
        { digest: d("a"), size: 20 },
      ],
      tags: { "1.0": d("1"), stable: d("1") },
    },
    {
      ...base,
      manifests: [{ digest: d("2"), mediaType: MediaType.dockerManifest, size: 100, refs: [d("c"), d("b")] }],
      blobs: [
        { digest: d("c"), size: 10 },
        { digest: d("b"), size: 30 },
      ],
      tags: { "2.0": d("2") },
    },
    {
      ...base,
      manifests: [
        {
          digest: d("4"),
          mediaType: MediaType.ociManifest,
          size: 5,
          refs: [d("c"), d("e")],
          platform: { os: "linux", architecture: "amd64" },
        },
        {
          digest: d("5"),
          mediaType: MediaType.ociManifest,
          size: 5,
          refs: [d("c"), d("f")],
          platform: { os: "linux", architecture: "arm64" },
        },
        { digest: d("6"), mediaType: MediaType.ociIndex, size: 9, refs: [d("4"), d("5")] },
      ],
      blobs: [
        { digest: d("c"), size: 10 },
        { digest: d("e"), size: 3, url: "https://vendor.example.com/v2/base/blobs/e" },
        { digest: d("f"), size: 4 },
      ],
      tags: { multi: d("6") },
    },
  ];
  let meta: CraneV4 | undefined;
  for (const pub of pubs) meta = applyPublication(meta, pub, NOW);
  if (meta === undefined) throw new Error("no metadata");
  return meta;
}

describe("parseDeleteReference", () => {
  it("reads name:tag and name@digest, with a registry-style port-free name", () => {
    expect(parseDeleteReference("acme/app:1.0")).toEqual({ name: "acme/app", tag: "1.0" });
    expect(parseDeleteReference(`acme/app@${d("1")}`)).toEqual({ name: "acme/app", digest: d("1") });
  });

  it.each([
    ["acme/app", /no tag or digest/],
    ["Acme/app:1.0", /not a valid repository name/],
    ["acme/app:-bad", /not a valid tag/],
    ["acme/app@sha256:abc", /not a sha256 digest/],
    ["../etc:1", /not a valid repository name/],
    [`acme/app@${d("1")}/../x`, /not a sha256 digest/],
  ])("refuses %s as a usage error", (ref, message) => {
    let caught: unknown;
    try {
      parseDeleteReference(ref);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UserError);
    expect((caught as UserError).message).toMatch(message);
    expect((caught as UserError).exitCode).toBe(2);
  });
});

describe("planDeletion", () => {
  it("removes one tag and keeps its manifest pullable by digest while another tag exists", () => {
    const plan = planDeletion(repository(), { name: "acme/app", tag: "stable" }, LATER);
    expect(plan.removedTags).toEqual(["stable"]);
    expect(plan.removedManifests).toEqual([]);
    expect(plan.removedBlobs).toEqual([]);
    const ext = plan.next?.["x-raas"];
    expect(Object.keys(ext?.tags ?? {}).sort()).toEqual(["1.0", "2.0", "multi"]);
    expect(ext?.manifests[d("1")]).toBeDefined();
    expect(ext?.updated).toBe(LATER.toISOString());
    // Crane's lists follow: the tag is gone from schema2_data as well.
    expect(plan.next?.schema2_data).not.toContain("stable");
    expect(plan.next?.schema2_data).toContain("1.0");
  });

  it("removes a manifest, every tag pointing at it, and the blobs only it used", () => {
    const plan = planDeletion(repository(), { name: "acme/app", digest: d("1") }, LATER);
    expect(plan.removedTags.sort()).toEqual(["1.0", "stable"]);
    expect(plan.removedManifests).toEqual([d("1")]);
    // c is shared with m2 and the index children: only a goes.
    expect(plan.removedBlobs).toEqual([d("a")]);
    expect(plan.next?.["x-raas"]?.blobs[d("c")]).toBeDefined();
    expect(plan.next?.schema2_data).not.toContain(d("1"));
  });

  it("removes an index with the children nothing else uses, and their blobs, vendor ones included", () => {
    const plan = planDeletion(repository(), { name: "acme/app", digest: d("6") }, LATER);
    expect(plan.removedTags).toEqual(["multi"]);
    expect(plan.removedManifests.sort()).toEqual([d("4"), d("5"), d("6")]);
    expect(plan.removedBlobs.sort()).toEqual([d("e"), d("f")]);
    expect(plan.next?.manifest_list_data).toEqual([]);
    expect(plan.next?.manifest_list_amd64_tags).toEqual({});
  });

  it("refuses to delete a manifest an index still lists", () => {
    expect(() => planDeletion(repository(), { name: "acme/app", digest: d("4") }, LATER)).toThrow(
      /part of index sha256:6{64}; deleting it would break the index/,
    );
  });

  it("removes the repository with its last tag", () => {
    let meta = repository();
    for (const tag of ["1.0", "stable", "2.0"]) {
      const plan = planDeletion(meta, { name: "acme/app", tag }, LATER);
      if (plan.next === undefined) throw new Error(`removing ${tag} removed the repository too early`);
      meta = plan.next;
    }
    const last = planDeletion(meta, { name: "acme/app", tag: "multi" }, LATER);
    expect(last.next).toBeUndefined();
    expect(last.removedTags).toEqual(["multi"]);
    expect(last.removedManifests.sort()).toEqual([d("1"), d("2"), d("4"), d("5"), d("6")]);
    expect(last.removedBlobs.sort()).toEqual([d("a"), d("b"), d("c"), d("e"), d("f")]);
  });

  it("names what exists when the tag or digest is unknown", () => {
    expect(() => planDeletion(repository(), { name: "acme/app", tag: "3.0" }, LATER)).toThrow(
      expect.objectContaining({
        message: "acme/app has no tag 3.0",
        hint: "Its tags: 1.0, stable, 2.0, multi.",
      }),
    );
    expect(() => planDeletion(repository(), { name: "acme/app", digest: d("9") }, LATER)).toThrow(
      /acme\/app has no manifest sha256:9{64}/,
    );
  });
});
