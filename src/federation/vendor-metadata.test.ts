import { describe, expect, it } from "vitest";
import { UserError } from "../errors.js";
import { tempDir, tempGitRemote, writeTree } from "../../test/helpers/git.js";
import { loadVendorFiles, vendorFileUrl } from "./vendor-metadata.js";

const ID_A = "a".repeat(64);
const ID_B = "b".repeat(64);

function v1(name: string, id: string, url = "https://cdn.vendor.example/rhel/images/"): string {
  return JSON.stringify({
    type: "pulp-docker-redirect",
    version: 1,
    repository: name,
    "repo-registry-id": `vendor/${name}`,
    url,
    protected: false,
    images: [{ id }],
    tags: { latest: id },
  });
}

describe("vendor metadata sources", () => {
  it("reads redhat/metadata beside raas.cfg and the [redhat] metadata_repo git repository, in name order", async () => {
    const conf = await tempDir();
    await writeTree(conf, {
      "redhat/metadata/rhel7.json": v1("rhel7", ID_B),
      "redhat/metadata/notes.txt": "ignored",
    });
    const { remote } = await tempGitRemote({
      files: { "crane/rhel6.json": v1("rhel6", ID_A), README: "vendor" },
    });

    const files = await loadVendorFiles({ confDir: conf, metadataRepo: remote, metadataRelpath: "crane" });
    expect(files.map((f) => f.name)).toEqual(["rhel6.json", "rhel7.json"]);
    expect(files[0]?.meta.images).toEqual([{ id: ID_A }]);
    expect(files[0]?.origin).toContain("crane");
    expect(vendorFileUrl(files[0]!.meta, ID_A, "layer")).toBe(
      `https://cdn.vendor.example/rhel/images/${ID_A}/layer`,
    );
  });

  it("refuses a metadata_relpath outside the repository, a missing directory, and an unreachable repository", async () => {
    const { remote } = await tempGitRemote({ files: { "rhel6.json": v1("rhel6", ID_A) } });
    const base = { confDir: undefined, metadataRepo: remote };
    await expect(loadVendorFiles({ ...base, metadataRelpath: "../.." })).rejects.toThrow(
      /points outside the repository/,
    );
    await expect(loadVendorFiles({ ...base, metadataRelpath: "nope" })).rejects.toThrow(
      /cannot read vendor metadata directory/,
    );
    await expect(
      loadVendorFiles({ confDir: undefined, metadataRepo: `${remote}-missing`, metadataRelpath: undefined }),
    ).rejects.toBeInstanceOf(UserError);
  });

  it("refuses files that would leave vendor layers unserved: not v1, no http(s) url, or two with one name", async () => {
    const conf = await tempDir();
    await writeTree(conf, {
      "redhat/metadata/v4.json": JSON.stringify({
        version: 4,
        repository: "x",
        "repo-registry-id": "x",
        url: "https://x.example/",
        schema2_data: [],
        manifest_list_data: [],
        manifest_list_amd64_tags: {},
      }),
    });
    await expect(
      loadVendorFiles({ confDir: conf, metadataRepo: undefined, metadataRelpath: undefined }),
    ).rejects.toThrow(/is Crane version 4; vendor files are version 1/);

    const local = await tempDir();
    await writeTree(local, { "redhat/metadata/rhel6.json": v1("rhel6", ID_A, "file:///srv/rhel/") });
    await expect(
      loadVendorFiles({ confDir: local, metadataRepo: undefined, metadataRelpath: undefined }),
    ).rejects.toThrow(/is not http\(s\)/);

    const dup = await tempDir();
    await writeTree(dup, { "redhat/metadata/rhel6.json": v1("rhel6", ID_A) });
    const { remote } = await tempGitRemote({ files: { "rhel6.json": v1("rhel6", ID_B) } });
    await expect(
      loadVendorFiles({ confDir: dup, metadataRepo: remote, metadataRelpath: undefined }),
    ).rejects.toThrow(/two vendor metadata files are named rhel6\.json/);
  });
});
