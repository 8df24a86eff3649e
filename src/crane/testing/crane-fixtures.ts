/**
 * Crane's `tests/data/metadata_good` fixtures, re-created from FORMATS.md §1 (digests that the
 * notes shorten are completed with filler). Used by the crane and server tests only.
 */
const fill = (head: string, tail: string) =>
  `sha256:${head}${"0".repeat(64 - head.length - tail.length)}${tail}`;

export const ZOO_AMD64 = fill("c555", "86bf");
export const ZOO_LIST_A = fill("3e0e", "7ca8");
export const ZOO_LIST_B = fill("a90b", "7956");
export const FOO_S2 = "sha256:a1d963a97357110bdbfc70767a495c8df6ddfa9bda4da3183165ca73c3b990d2";

export const METADATA_GOOD: Record<string, unknown> = {
  "foo.json": {
    images: [{ id: "abc123" }, { id: "xyz789" }],
    repository: "foo",
    "repo-registry-id": "redhat/foo",
    tags: { latest: "abc123", test: "def234" },
    url: "http://cdn.redhat.com/foo/bar/images/",
    version: 1,
  },
  "bar.json": {
    images: [{ id: "def456" }, { id: "ghi789" }],
    repository: "bar",
    "repo-registry-id": "bar",
    tags: { latest: "def456", test: "notlisted" },
    url: "http://cdn.redhat.com/bar/baz/images",
    version: 1,
  },
  "baz.json": {
    images: [{ id: "baz123" }],
    repository: "baz",
    "repo-registry-id": "baz",
    tags: { latest: "baz123" },
    url: "http://cdn.redhat.com/foo/path/bar/baz/images/",
    version: 1,
    protected: true,
  },
  "qux.json": {
    images: [{ id: "qux123" }],
    repository: "qux",
    "repo-registry-id": "qux",
    tags: { latest: "qux123" },
    url: "http://cdn.redhat.com/some/invalid/path/qux/images/",
    version: 1,
    protected: true,
  },
  "nop.json": {
    images: [{ id: "nop123" }],
    repository: "nop",
    "repo-registry-id": "nop",
    tags: { ab: "nop123" },
    url: "http://cdn.redhat.com/nop/images/",
    version: 1,
  },
  "bar_v2.json": {
    "repo-registry-id": "bar",
    repository: "bar",
    url: "http://cdn.redhat.com/bar/baz/v2",
    version: 2,
  },
  "foo_v2.json": {
    "repo-registry-id": "redhat/foo",
    repository: "foo",
    url: "http://cdn.redhat.com/foo/bar",
    version: 2,
  },
  "foo_v3.json": {
    repository: "foo",
    "repo-registry-id": "redhat/foo",
    url: "http://cdn.redhat.com/foo/bar",
    version: 3,
    schema2_data: [FOO_S2, "1.25.1-musl", "1.25.0-glibc"],
  },
  "protected.json": {
    "repo-registry-id": "redhat/protected",
    repository: "protected",
    url: "http://cdn.redhat.com/protected/v2",
    version: 2,
    protected: true,
  },
  "registry.json": {
    "repo-registry-id": "registry",
    repository: "registry",
    url: "https://oh-hey-beav-whats-up.os1.phx2.redhat.com/pulp/docker/v2/registry/",
    version: 2,
    protected: false,
    type: "pulp-docker-redirect",
  },
  "zoo_v4.json": {
    repository: "zoo",
    "repo-registry-id": "redhat/zoo",
    url: "http://cdn.redhat.com/zoo/bar",
    version: 4,
    protected: false,
    type: "pulp-docker-redirect",
    schema2_data: [FOO_S2, "1.25.1-musl", "1.25.0-glibc"],
    manifest_list_amd64_tags: { bar: [ZOO_AMD64, 2], latest: [ZOO_AMD64, 1] },
    manifest_list_data: ["bar", ZOO_LIST_A, ZOO_LIST_B, "latest"],
  },
};
