/**
 * The real skopeo against our server: inspect and copy, by tag and by digest, a single-platform
 * image and a manifest list (with --all), in serve-content mode (blobs from the content dir)
 * and in redirect mode (blobs 307-redirected to s3rver on loopback, manifests from memory).
 * `dir:` destinations keep the bytes as served, so every file can be checked against its digest.
 * Long-ish: about a dozen skopeo runs (a few seconds on this machine).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRegistry } from "../../src/server/start.js";
import { startS3rver, type RunningS3rver } from "../helpers/s3rver.js";
import { makeRaasApp, serve, type RaasApp } from "./raas-app.js";

const run = promisify(execFile);
const sha256 = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

async function skopeo(...args: string[]): Promise<Buffer> {
  const { stdout } = await run("skopeo", args, { timeout: 60_000, encoding: "buffer" });
  return stdout;
}

/** Every file skopeo wrote to a `dir:` destination hashes to its name (manifests aside). */
async function checkDir(dir: string): Promise<{ manifest: Buffer; blobs: string[] }> {
  const blobs: string[] = [];
  for (const name of await readdir(dir)) {
    if (name === "version" || name.endsWith("manifest.json")) continue;
    const digest = sha256(await readFile(join(dir, name)));
    expect(digest, `${dir}/${name}`).toBe(`sha256:${name}`);
    blobs.push(digest);
  }
  return { manifest: await readFile(join(dir, "manifest.json")), blobs: blobs.sort() };
}

function suite(mode: "serve-content" | "redirect") {
  describe(`skopeo against the registry (${mode})`, () => {
    let app: RaasApp;
    let server: RunningRegistry;
    let s3: RunningS3rver | undefined;
    let work: string;
    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), "raas-skopeo-"));
      app = await makeRaasApp();
      if (mode === "redirect") {
        s3 = await startS3rver({ buckets: ["reg"] });
        const client = new S3Client({
          endpoint: s3.endpoint,
          region: "us-east-1",
          forcePathStyle: true,
          credentials: s3.credentials,
        });
        for (const [digest, bytes] of app.acme.blobBytes) {
          await client.send(
            new PutObjectCommand({ Bucket: "reg", Key: `acme-app/blobs/${digest}`, Body: bytes }),
          );
        }
        client.destroy();
        const conf = (await readFile(app.repo.configPath, "utf8")).replace("enable: true", "enable: false");
        await writeFile(app.repo.configPath, `${conf}[storage]\npublic_base_url = ${s3.endpoint}/reg\n`);
      }
      server = await serve(app);
    });
    afterAll(async () => {
      await server.close();
      await s3?.stop();
      await app.repo.cleanup();
      await rm(work, { recursive: true, force: true });
    });
    const ref = (suffix: string) => `docker://${server.url.replace("http://", "")}/acme/app${suffix}`;
    const tags = () => app.acme.publication.tags;

    it("inspects by tag and by digest", async () => {
      const digest = tags().latest ?? "";
      for (const suffix of [":latest", `@${digest}`]) {
        const out = await skopeo("inspect", "--tls-verify=false", "--format", "{{.Digest}}", ref(suffix));
        expect(out.toString().trim()).toBe(digest);
      }
      const raw = await skopeo("inspect", "--tls-verify=false", "--raw", ref(":multi"));
      expect(raw.equals(app.acme.manifestBytes.get(tags().multi as never) ?? Buffer.alloc(0))).toBe(true);
      const tagList = JSON.parse((await skopeo("list-tags", "--tls-verify=false", ref(""))).toString()) as {
        Tags: string[];
      };
      expect(tagList.Tags.sort()).toEqual(["1.0", "latest", "multi"]);
    });

    it("copies a single image by tag and by digest with every blob verified", async () => {
      const digest = tags().latest ?? "";
      for (const [i, suffix] of [":latest", `@${digest}`].entries()) {
        const dest = join(work, `single-${i}`);
        await skopeo("copy", "--src-tls-verify=false", "--retry-times", "0", ref(suffix), `dir:${dest}`);
        const { manifest, blobs } = await checkDir(dest);
        expect(sha256(manifest)).toBe(digest);
        const expected = app.acme.publication.manifests.find((m) => m.digest === digest)?.refs ?? [];
        expect(blobs).toEqual([...expected].sort());
      }
    });

    it("copies a manifest list with --all, every platform verified", async () => {
      const dest = join(work, "multi");
      await skopeo(
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--retry-times",
        "0",
        ref(":multi"),
        `dir:${dest}`,
      );
      const { manifest, blobs } = await checkDir(dest);
      expect(sha256(manifest)).toBe(tags().multi);
      const children = app.acme.publication.manifests.filter((m) => m.platform !== undefined);
      expect(blobs).toEqual(children.flatMap((m) => m.refs).sort());
    });

    it("keeps Range requests working at the blob's final location", async () => {
      const [digest, bytes] = [...app.acme.blobBytes].find(([, b]) => b.length > 100) ?? [];
      const res = await fetch(`${server.url}/v2/acme/app/blobs/${digest}`, {
        headers: { Range: "bytes=10-29" },
      });
      expect(res.status).toBe(206);
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes?.subarray(10, 30) ?? Buffer.alloc(1))).toBe(
        true,
      );
      if (mode === "redirect") {
        const hop = await fetch(`${server.url}/v2/acme/app/blobs/${digest}`, { redirect: "manual" });
        expect(hop.status).toBe(307);
        expect(hop.headers.get("location")).toBe(`${s3?.endpoint}/reg/acme-app/blobs/${digest}`);
        expect(hop.headers.get("docker-content-digest")).toBe(digest);
      }
    });
  });
}

suite("serve-content");
suite("redirect");
