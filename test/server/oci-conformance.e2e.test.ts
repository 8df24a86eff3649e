/**
 * The OCI distribution specification's four workflow categories (pull, push, content discovery,
 * content management), written from the spec's endpoint table and error codes, against the real
 * server process over HTTP with deletion enabled (`[push] allow_delete`). Also: each deletion is
 * a commit authored by the caller with a `delete` event at a collector started here, write-once
 * tags refuse deletion, and concurrent manifest PUTs are committed together (group commit).
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gitOut } from "../helpers/git.js";
import {
  pushApiRepo,
  startCollector,
  startPushApiServer,
  type Collector,
  type RegistryProcess,
} from "../helpers/push-api-server.js";
import { imageManifest } from "../helpers/oci-manifest.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const OCI = "application/vnd.oci.image.manifest.v1+json";
const INDEX = "application/vnd.oci.image.index.v1+json";

let root: string;
let remote: string;
let base: string;
let server: RegistryProcess | undefined;
let collector: Collector | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "raas-conformance-"));
  collector = await startCollector();
  const repo = await pushApiRepo(root);
  remote = repo.remote;
  server = await startPushApiServer({
    root,
    repo,
    workers: 1,
    raas: ["events_poll = 200ms"],
    push: ["allow_delete = true", "write_once_tags = acme/frozen/"],
    sections: ["[events.collector]", `url = ${collector.url}`, "timeout = 2s", "ignored_actions = pull"],
  });
  base = server.url;
}, 180_000);

afterAll(async () => {
  // A stopping server still stores its last window of events: wait for its exit before removing
  // the store it writes to.
  await server?.stop();
  await collector?.close();
  await rm(root, { recursive: true, force: true, maxRetries: 5 });
});

const asUser = (user: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:pw`).toString("base64")}`,
});
const req = (path: string, init: RequestInit = {}, user = "alice") =>
  fetch(`${base}${path}`, {
    ...init,
    headers: { ...asUser(user), ...(init.headers as Record<string, string>) },
  });
async function errorCode(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as { errors?: { code: string }[] };
  return body.errors?.[0]?.code;
}
const commitCount = () => Number(gitOut(root, [`--git-dir=${remote}`, "rev-list", "--count", "main"]));

async function pushBlob(name: string, bytes: Buffer): Promise<string> {
  const res = await req(`/v2/${name}/blobs/uploads/?digest=${sha(bytes)}`, {
    method: "POST",
    body: new Uint8Array(bytes),
    headers: { "Content-Type": "application/octet-stream" },
  });
  expect(res.status).toBe(201);
  return sha(bytes);
}

/** An image (config + one layer) of `seed`, its blobs pushed; the manifest bytes (not pushed). */
async function image(name: string, seed: string, extra: Record<string, unknown> = {}): Promise<Buffer> {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", seed }));
  const layer = Buffer.from(`layer of ${seed}`);
  await pushBlob(name, config);
  await pushBlob(name, layer);
  return imageManifest(config, layer, extra);
}

/**
 * An artifact manifest (spec 1.1: the empty config and layer, an artifactType) whose subject is
 * the manifest `subject`, its empty blob pushed; the manifest bytes (not pushed).
 */
async function referrer(name: string, artifactType: string, subject: Buffer): Promise<Buffer> {
  const empty = Buffer.from("{}");
  await pushBlob(name, empty);
  const descriptor = { mediaType: "application/vnd.oci.empty.v1+json", digest: sha(empty), size: 2 };
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI,
      artifactType,
      config: descriptor,
      layers: [descriptor],
      subject: { mediaType: OCI, digest: sha(subject), size: subject.length },
    }),
  );
}

const putManifest = (name: string, reference: string, body: Buffer, type = OCI, user = "alice") =>
  req(
    `/v2/${name}/manifests/${reference}`,
    { method: "PUT", body: new Uint8Array(body), headers: { "Content-Type": type } },
    user,
  );

async function until<T>(what: string, check: () => T | undefined, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("OCI distribution spec: pull", () => {
  it("GET and HEAD of a manifest by tag and by digest, blobs by digest; 404 with the spec's codes", async () => {
    const manifest = await image("acme/pull", "pull");
    expect((await putManifest("acme/pull", "1.0", manifest)).status).toBe(201);
    for (const reference of ["1.0", sha(manifest)]) {
      const got = await req(`/v2/acme/pull/manifests/${reference}`, { headers: { Accept: OCI } });
      expect(got.status).toBe(200);
      expect(got.headers.get("content-type")).toBe(OCI);
      expect(got.headers.get("docker-content-digest")).toBe(sha(manifest));
      expect(Buffer.from(await got.arrayBuffer()).equals(manifest)).toBe(true);
      const head = await req(`/v2/acme/pull/manifests/${reference}`, {
        method: "HEAD",
        headers: { Accept: OCI },
      });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe(String(manifest.length));
    }
    const layer = Buffer.from("layer of pull");
    const blob = await req(`/v2/acme/pull/blobs/${sha(layer)}`);
    expect(blob.status).toBe(200);
    expect(Buffer.from(await blob.arrayBuffer()).equals(layer)).toBe(true);
    expect((await req(`/v2/acme/pull/blobs/${sha(layer)}`, { method: "HEAD" })).status).toBe(200);

    const noTag = await req("/v2/acme/pull/manifests/2.0", { headers: { Accept: OCI } });
    expect(noTag.status).toBe(404);
    expect(await errorCode(noTag)).toBe("MANIFEST_UNKNOWN");
    const noBlob = await req(`/v2/acme/pull/blobs/${sha(Buffer.from("absent"))}`);
    expect(noBlob.status).toBe(404);
    expect(await errorCode(noBlob)).toBe("BLOB_UNKNOWN");
    const noRepo = await req("/v2/acme/absent/manifests/1.0");
    expect(noRepo.status).toBe(404);
    expect(await errorCode(noRepo)).toBe("NAME_UNKNOWN");
  }, 120_000);
});

describe("OCI distribution spec: push", () => {
  it("POST then PUT, monolithic POST, chunked PATCH, mount; manifest PUT 201 with Location and digest", async () => {
    const a = Buffer.from("push: post then put");
    const start = await req("/v2/acme/push/blobs/uploads/", { method: "POST" });
    expect(start.status).toBe(202);
    const location = start.headers.get("location")!;
    const put = await req(`${location}?digest=${sha(a)}`, {
      method: "PUT",
      body: a,
      headers: { "Content-Type": "application/octet-stream" },
    });
    expect(put.status).toBe(201);
    expect(put.headers.get("location")).toBe(`/v2/acme/push/blobs/${sha(a)}`);

    const chunked = Buffer.from("c".repeat(3000) + "d".repeat(3000));
    const session = (await req("/v2/acme/push/blobs/uploads/", { method: "POST" })).headers.get("location")!;
    const patch = await req(session, {
      method: "PATCH",
      body: chunked.subarray(0, 3000),
      headers: { "Content-Range": "0-2999", "Content-Type": "application/octet-stream" },
    });
    expect(patch.status).toBe(202);
    expect(patch.headers.get("range")).toBe("0-2999");
    const skipped = await req(session, {
      method: "PATCH",
      body: chunked.subarray(4000),
      headers: { "Content-Range": "4000-5999" },
    });
    expect(skipped.status).toBe(416);
    expect((await req(session)).headers.get("range")).toBe("0-2999");
    const close = await req(`${session}?digest=${sha(chunked)}`, {
      method: "PUT",
      body: chunked.subarray(3000),
      headers: { "Content-Range": "3000-5999" },
    });
    expect(close.status).toBe(201);

    const wrongDigest = await req(`/v2/acme/push/blobs/uploads/?digest=${sha(Buffer.from("x"))}`, {
      method: "POST",
      body: a,
    });
    expect(wrongDigest.status).toBe(400);
    expect(await errorCode(wrongDigest)).toBe("DIGEST_INVALID");
    const unknownSession = await req("/v2/acme/push/blobs/uploads/3f0b7d3e-0000-4000-8000-000000000000", {
      method: "PATCH",
      body: "x",
    });
    expect(unknownSession.status).toBe(404);
    expect(await errorCode(unknownSession)).toBe("BLOB_UPLOAD_UNKNOWN");

    const manifest = await image("acme/push", "push");
    const created = await putManifest("acme/push", "1.0", manifest);
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`/v2/acme/push/manifests/${sha(manifest)}`);
    expect(created.headers.get("docker-content-digest")).toBe(sha(manifest));
    const byDigest = await putManifest("acme/push", sha(manifest), manifest);
    expect(byDigest.status).toBe(201);

    const missing = await putManifest(
      "acme/push",
      "broken",
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI,
          config: {
            mediaType: "application/vnd.oci.image.config.v1+json",
            digest: sha(Buffer.from("no")),
            size: 2,
          },
          layers: [],
        }),
      ),
    );
    expect(missing.status).toBe(400);
    expect(await errorCode(missing)).toBe("MANIFEST_BLOB_UNKNOWN");
    const invalid = await putManifest("acme/push", "bad", Buffer.from("not json"));
    expect(invalid.status).toBe(400);
    expect(await errorCode(invalid)).toBe("MANIFEST_INVALID");
    const badName = await req("/v2/Acme/Upper/blobs/uploads/", { method: "POST" });
    expect(badName.status).toBe(400);
    expect(await errorCode(badName)).toBe("NAME_INVALID");

    // acme/push is now published (pullable): a blob its metadata lists is mounted, not uploaded again.
    const config = (JSON.parse(manifest.toString()) as { config: { digest: string } }).config.digest;
    const mount = await req(`/v2/acme/push-copy/blobs/uploads/?mount=${config}&from=acme/push`, {
      method: "POST",
    });
    expect(mount.status).toBe(201);
    expect(mount.headers.get("location")).toBe(`/v2/acme/push-copy/blobs/${config}`);
    // A blob only uploaded there (no manifest lists it) is not acme/push's to give: a session (202).
    const unlisted = await req(`/v2/acme/push-copy/blobs/uploads/?mount=${sha(a)}&from=acme/push`, {
      method: "POST",
    });
    expect(unlisted.status).toBe(202);
  }, 120_000);
});

describe("OCI distribution spec: content discovery", () => {
  it("tags list with n, last and Link; referrers of a digest; 404 NAME_UNKNOWN for an unknown repository", async () => {
    const manifest = await image("acme/discover", "discover");
    for (const tag of ["a", "b", "c"]) {
      expect((await putManifest("acme/discover", tag, manifest)).status).toBe(201);
    }
    const all = await req("/v2/acme/discover/tags/list");
    expect(all.status).toBe(200);
    expect(await all.json()).toEqual({ name: "acme/discover", tags: ["a", "b", "c"] });
    const page = await req("/v2/acme/discover/tags/list?n=1&last=a");
    expect(await page.json()).toEqual({ name: "acme/discover", tags: ["b"] });
    expect(page.headers.get("link")).toBe('</v2/acme/discover/tags/list?n=1&last=b>; rel="next"');
    const unknown = await req("/v2/acme/nothing-here/tags/list");
    expect(unknown.status).toBe(404);
    expect(await errorCode(unknown)).toBe("NAME_UNKNOWN");

    const sbom = await referrer("acme/discover", "application/vnd.example.sbom", manifest);
    expect((await putManifest("acme/discover", sha(sbom), sbom)).status).toBe(201);
    const referrers = await req(`/v2/acme/discover/referrers/${sha(manifest)}`);
    expect(referrers.status).toBe(200);
    expect(referrers.headers.get("content-type")).toBe(INDEX);
    const index = (await referrers.json()) as { manifests: { digest: string; artifactType: string }[] };
    expect(index.manifests).toEqual([
      expect.objectContaining({ digest: sha(sbom), artifactType: "application/vnd.example.sbom" }),
    ]);
  }, 120_000);
});

describe("OCI distribution spec: content management", () => {
  it("DELETE of a tag and of a manifest: 202, then 404; blobs 405; commits by the caller; delete events", async () => {
    const manifest = await image("acme/manage", "manage");
    for (const tag of ["keep", "gone", "alias"]) {
      expect((await putManifest("acme/manage", tag, manifest)).status).toBe(201);
    }
    const other = await image("acme/manage", "manage-other");
    expect((await putManifest("acme/manage", "other", other)).status).toBe(201);

    // A tag: the tag goes, the manifest stays pullable by digest and under its other tags.
    const before = commitCount();
    const untag = await req("/v2/acme/manage/manifests/gone", { method: "DELETE" }, "dave");
    expect(untag.status).toBe(202);
    expect(commitCount()).toBe(before + 1);
    expect(gitOut(root, [`--git-dir=${remote}`, "log", "-1", "--format=%an <%ae>|%s", "main"])).toBe(
      "dave <dave@loopback.invalid>|acme delete acme/manage:gone (registry API)",
    );
    const goneTag = await req("/v2/acme/manage/manifests/gone", { headers: { Accept: OCI } });
    expect(goneTag.status).toBe(404);
    expect(await errorCode(goneTag)).toBe("MANIFEST_UNKNOWN");
    expect(
      (await req(`/v2/acme/manage/manifests/${sha(manifest)}`, { headers: { Accept: OCI } })).status,
    ).toBe(200);
    const again = await req("/v2/acme/manage/manifests/gone", { method: "DELETE" });
    expect(again.status).toBe(404);
    expect(await errorCode(again)).toBe("MANIFEST_UNKNOWN");

    // A manifest: it goes with every tag naming it.
    const drop = await req(`/v2/acme/manage/manifests/${sha(manifest)}`, { method: "DELETE" });
    expect(drop.status).toBe(202);
    for (const reference of ["keep", "alias", sha(manifest)]) {
      const res = await req(`/v2/acme/manage/manifests/${reference}`, { headers: { Accept: OCI } });
      expect(res.status).toBe(404);
      expect(await errorCode(res)).toBe("MANIFEST_UNKNOWN");
    }
    expect(await (await req("/v2/acme/manage/tags/list")).json()).toEqual({
      name: "acme/manage",
      tags: ["other"],
    });
    const unknownDigest = await req(`/v2/acme/manage/manifests/${sha(Buffer.from("none"))}`, {
      method: "DELETE",
    });
    expect(unknownDigest.status).toBe(404);
    expect(await errorCode(unknownDigest)).toBe("MANIFEST_UNKNOWN");
    const badDigest = await req("/v2/acme/manage/manifests/sha256:xyz", { method: "DELETE" });
    expect(badDigest.status).toBe(400);
    expect(await errorCode(badDigest)).toBe("DIGEST_INVALID");
    const unknownRepo = await req("/v2/acme/never/manifests/1.0", { method: "DELETE" });
    expect(unknownRepo.status).toBe(404);
    expect(await errorCode(unknownRepo)).toBe("NAME_UNKNOWN");

    // Blobs are not deleted through the API (raas gc frees what nothing references).
    const blob = await req(`/v2/acme/manage/blobs/${sha(Buffer.from("layer of manage-other"))}`, {
      method: "DELETE",
    });
    expect(blob.status).toBe(405);
    expect(await errorCode(blob)).toBe("UNSUPPORTED");

    // The last tag removes the repository from the catalog.
    expect((await req("/v2/acme/manage/manifests/other", { method: "DELETE" })).status).toBe(202);
    const catalog = (await (await req("/v2/_catalog")).json()) as { repositories: string[] };
    expect(catalog.repositories).not.toContain("acme/manage");
    const afterLast = await req("/v2/acme/manage/tags/list");
    expect(afterLast.status).toBe(404);
    expect(await errorCode(afterLast)).toBe("NAME_UNKNOWN");

    const deletes = await until("the delete events", () => {
      const found = collector!.received.filter(
        (e) => e.action === "delete" && e.target.repository === "acme/manage",
      );
      return found.length >= 6 ? found : undefined;
    });
    expect(deletes).toContainEqual(
      expect.objectContaining({
        action: "delete",
        target: expect.objectContaining({
          tag: "gone",
          digest: sha(manifest),
          mediaType: OCI,
          size: manifest.length,
        }),
        request: expect.objectContaining({ method: "DELETE" }),
        actor: { name: "dave" },
      }),
    );
    // The manifest delete: its two tags and the manifest itself (no tag).
    const ofManifest = deletes.filter((e) => e.target.digest === sha(manifest) && e.actor.name === "alice");
    expect(ofManifest.map((e) => e.target.tag ?? "").sort()).toEqual(["", "alias", "keep"]);
  }, 180_000);

  it("a deleted referrer leaves the referrers listing; write-once tags refuse deletion with 409 DENIED", async () => {
    const subject = await image("acme/signed2", "signed2");
    expect((await putManifest("acme/signed2", "1.0", subject)).status).toBe(201);
    const sig = await referrer("acme/signed2", "application/vnd.example.signature", subject);
    expect((await putManifest("acme/signed2", sha(sig), sig)).status).toBe(201);
    const listed = async () =>
      (
        (await (await req(`/v2/acme/signed2/referrers/${sha(subject)}`)).json()) as {
          manifests: { digest: string }[];
        }
      ).manifests.map((m) => m.digest);
    expect(await listed()).toEqual([sha(sig)]);
    expect((await req(`/v2/acme/signed2/manifests/${sha(sig)}`, { method: "DELETE" })).status).toBe(202);
    expect(await listed()).toEqual([]);

    const frozen = await image("acme/frozen/app", "frozen");
    expect((await putManifest("acme/frozen/app", "1.0", frozen)).status).toBe(201);
    for (const reference of ["1.0", sha(frozen)]) {
      const refused = await req(`/v2/acme/frozen/app/manifests/${reference}`, { method: "DELETE" });
      expect(refused.status).toBe(409);
      const body = (await refused.json()) as { errors: { code: string; message: string }[] };
      expect(body.errors[0]?.code).toBe("DENIED");
      expect(body.errors[0]?.message).toContain("write-once");
    }
    expect((await req("/v2/acme/frozen/app/manifests/1.0", { headers: { Accept: OCI } })).status).toBe(200);
  }, 180_000);
});

describe("group commit", () => {
  it("8 concurrent manifest PUTs are committed in fewer commits than PUTs, and every tag is there", async () => {
    const manifests = await Promise.all(
      Array.from({ length: 8 }, (_, i) => image("acme/burst", `burst-${i}`)),
    );
    const before = commitCount();
    const results = await Promise.all(manifests.map((m, i) => putManifest("acme/burst", `t${i}`, m)));
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(201));
    const commits = commitCount() - before;
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(commits).toBeLessThan(8);
    const tags = ((await (await req("/v2/acme/burst/tags/list")).json()) as { tags: string[] }).tags;
    expect(tags.sort()).toEqual(Array.from({ length: 8 }, (_, i) => `t${i}`).sort());
    for (const [i, m] of manifests.entries()) {
      const got = await req(`/v2/acme/burst/manifests/t${i}`, { headers: { Accept: OCI } });
      expect(got.headers.get("docker-content-digest")).toBe(sha(m));
    }
    // Every pushed tag is named in the log, each in a commit authored by its pusher.
    const log = gitOut(root, [`--git-dir=${remote}`, "log", `-${commits}`, "--format=%an|%B", "main"]);
    for (let i = 0; i < 8; i++) expect(log).toContain(`acme push acme/burst:t${i} (registry API)`);
  }, 180_000);

  it("of two concurrent PUTs naming a new write-once tag one wins; the rest of the burst is committed", async () => {
    const first = await image("acme/frozen/burst", "frozen-a");
    const second = await image("acme/frozen/burst", "frozen-b");
    const fine = await Promise.all(
      Array.from({ length: 4 }, (_, i) => image("acme/frozen/burst", `fine-${i}`)),
    );
    const results = await Promise.all([
      putManifest("acme/frozen/burst", "1.0", first),
      putManifest("acme/frozen/burst", "1.0", second),
      ...fine.map((m, i) => putManifest("acme/frozen/burst", `2.${i}`, m)),
    ]);
    expect(
      results
        .slice(0, 2)
        .map((r) => r.status)
        .sort(),
    ).toEqual([201, 409]);
    expect(results.slice(2).map((r) => r.status)).toEqual([201, 201, 201, 201]);
    const winner = results[0].status === 201 ? first : second;
    const served = await req("/v2/acme/frozen/burst/manifests/1.0", { headers: { Accept: OCI } });
    expect(served.headers.get("docker-content-digest")).toBe(sha(winner));
    const tags = ((await (await req("/v2/acme/frozen/burst/tags/list")).json()) as { tags: string[] }).tags;
    expect(tags.sort()).toEqual(["1.0", "2.0", "2.1", "2.2", "2.3"]);
  }, 180_000);
});
