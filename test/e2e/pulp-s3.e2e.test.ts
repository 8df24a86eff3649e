/**
 * The Pulp export path against S3 (s3rver on loopback, public redirects): the v1 files and the
 * v2 conversion land in the bucket, the registry redirects v1 and v2 requests there (and to
 * the vendor site for masked layers), and both a v1 walk and skopeo get verified bytes.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import {
  buildV1Chain,
  startVendorSite,
  writePulpExport,
  type V1Built,
  type VendorSite,
} from "../helpers/pulp-builder.js";
import { s3RaasConfig, startS3rver, type RunningS3rver } from "../helpers/s3rver.js";
import { skopeoCopy, verifyOciDir } from "../helpers/skopeo.js";

const ISV = "acme";
const NAME = "acme/bigdata-app";
const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe("Pulp export with masked vendor layers, published to S3", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let s3: RunningS3rver;
  let vendor: VendorSite;
  let vendorImages: V1Built[];
  let isvImages: V1Built[];
  let host: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-pulp-s3-"));
    env = cliEnv(join(work, "home"));
    const port = await reservePort(join(work, "home", "raas"), ISV);
    host = `127.0.0.1:${port}`;
    s3 = await startS3rver({ buckets: ["acme-images"] });
    vendorImages = await buildV1Chain(["rhel-base"], { layerSize: 40_000 });
    isvImages = await buildV1Chain(["isv-app"], { parent: vendorImages[0], layerSize: 60_000 });
    vendor = await startVendorSite(join(work, "vendor"), vendorImages);
    await mkdir(join(work, "redhat", "metadata"), { recursive: true });
    await writeFile(join(work, "redhat", "metadata", "rhel7.json"), vendor.metadata);
    await writeFile(
      join(work, "raas.cfg"),
      s3RaasConfig({ endpoint: s3.endpoint, credentials: s3.credentials, isv: ISV, bucket: "acme-images" }),
    );
    await writePulpExport(join(work, "bigdata-app.tar"), {
      repoId: "acme-bigdata-app",
      registryId: NAME,
      images: isvImages,
      tags: { "1.0": isvImages[0]?.id ?? "" },
    });
    const setup = await runCli(["setup", ISV], { cwd: work, env });
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await stopBackgroundServer(join(work, "home", "raas"), ISV);
    await vendor?.close();
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("uploads only the ISV layer, serves a v1 walk and a v2 pull through redirects, and status is clean", async () => {
    const push = await runCli(["push", ISV, "bigdata-app", "--json"], { cwd: work, env });
    expect(push.code, push.stdout + push.stderr).toBe(0);
    expect(JSON.parse(push.stdout)).toMatchObject({ images: [{ name: NAME, counts: { masked: 1 } }] });

    const base = `http://${host}`;
    const top = isvImages[0] as V1Built;
    const ancestry = (await (await fetch(`${base}/v1/images/${top.id}/ancestry`)).json()) as string[];
    expect(ancestry).toEqual(top.ancestry);
    for (const id of ancestry) {
      const original = [...vendorImages, ...isvImages].find((i) => i.id === id) as V1Built;
      const redirect = await fetch(`${base}/v1/images/${id}/layer`, { redirect: "manual" });
      expect(redirect.status).toBe(302);
      const location = redirect.headers.get("location") ?? "";
      await redirect.body?.cancel();
      // ISV layers come from the bucket, vendor layers from the vendor.
      expect(
        location.startsWith(vendorImages.includes(original) ? vendor.url : `${s3.endpoint}/acme-images/`),
      ).toBe(true);
      expect(sha(Buffer.from(await (await fetch(location)).arrayBuffer()))).toBe(original.digest);
    }

    const dir = join(work, "pull");
    await skopeoCopy(`${host}/${NAME}:1.0`, `oci:${dir}`);
    expect((await verifyOciDir(dir)).diffIds).toEqual([...vendorImages, ...isvImages].map((i) => i.diffId));

    const status = await runCli(["status", ISV, "--verify"], { cwd: work, env });
    expect(status.code, status.stdout + status.stderr).toBe(0);
  });
});
