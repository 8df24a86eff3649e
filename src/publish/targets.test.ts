import { describe, expect, it } from "vitest";
import { InputError, UsageError } from "../errors.js";
import { sha256Digest } from "../image/digest.js";
import type { ImageRef, ImageSource, SourceImage } from "../image/model.js";
import { selectTargets } from "./targets.js";

function image(seed: string, refs: ImageRef[]): SourceImage {
  const bytes = Buffer.from(seed);
  const config = {
    digest: sha256Digest(`${seed}-config`),
    size: 1,
    mediaType: "application/vnd.oci.image.config.v1+json",
    open: () => {
      throw new Error("not read in these tests");
    },
    origin: "test",
  };
  return {
    root: {
      kind: "image",
      digest: sha256Digest(bytes),
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      bytes,
      config,
      layers: [],
    },
    refs,
  };
}

function source(...images: SourceImage[]): ImageSource {
  return { path: "in.tar", format: "oci-layout", images, close: () => Promise.resolve() };
}

describe("selectTargets", () => {
  it("takes names and tags from the archive", () => {
    const targets = selectTargets(
      source(
        image("a", [
          { name: "acme/app", tag: "1.0" },
          { name: "acme/app", tag: "latest" },
        ]),
      ),
      {},
    );
    expect(targets).toHaveLength(1);
    expect(targets[0]).toMatchObject({ name: "acme/app", tags: ["1.0", "latest"] });
  });

  it("lets --name and --tag override the archive", () => {
    const targets = selectTargets(source(image("a", [{ name: "acme/app", tag: "1.0" }])), {
      name: "other/app",
      tags: ["2.0"],
    });
    expect(targets.map((t) => [t.name, t.tags])).toEqual([["other/app", ["2.0"]]]);
  });

  it("keeps the archive's tags under --name alone, and uses latest when there are none", () => {
    expect(selectTargets(source(image("a", [{ name: "x", tag: "1" }])), { name: "y" })[0]?.tags).toEqual([
      "1",
    ]);
    expect(selectTargets(source(image("a", [{ name: "x" }])), {})[0]?.tags).toEqual(["latest"]);
  });

  it("asks for --name when the archive names nothing", () => {
    expect(() => selectTargets(source(image("a", [])), {})).toThrow(UsageError);
  });

  it("rejects invalid flags before anything else", () => {
    expect(() => selectTargets(source(image("a", [])), { name: "Bad/Name" })).toThrow(
      /not a valid repository name/,
    );
    expect(() => selectTargets(source(image("a", [])), { name: "ok", tags: [".hidden"] })).toThrow(
      /not a valid tag/,
    );
  });

  it("refuses one tag for two different images", () => {
    const a = image("a", [{ name: "acme/app", tag: "1.0" }]);
    const b = image("b", [{ name: "acme/app", tag: "1.0" }]);
    expect(() => selectTargets(source(a, b), {})).toThrow(InputError);
  });

  it("publishes different images of one archive under their own names", () => {
    const targets = selectTargets(
      source(image("a", [{ name: "one", tag: "1" }]), image("b", [{ name: "two", tag: "2" }])),
      {},
    );
    expect(targets.map((t) => `${t.name}:${t.tags.join()}`).sort()).toEqual(["one:1", "two:2"]);
  });

  it("rejects an input with no image", () => {
    expect(() => selectTargets(source(), {})).toThrow(/contains no image/);
  });
});
