/**
 * Switching an ISV from presigned to public redirects: blobs published before the switch are
 * private, so anonymous clients (every pull in public mode) get 403. status must find that
 * and setup must repair it. s3rver serves every object to anonymous clients and has no
 * PutObjectAcl, so an ACL stand-in (test/helpers/acl-proxy.ts) sits between raas and s3rver
 * and enforces canned ACLs as S3 does; everything else is real (s3rver, git, the registry
 * server, HTTP redirects).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Digest } from "../../src/image/digest.js";
import { startAclProxy, type AclProxy } from "../helpers/acl-proxy.js";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { buildOciLayout, type BuiltImage } from "../helpers/image-builder.js";
import { startS3rver, type RunningS3rver } from "../helpers/s3rver.js";

const ISV = "pub";

interface Report {
  ok: boolean;
  checks: { name: string; status: string; detail: string; fix?: string }[];
}

describe("public redirect mode after presigned (ACLs enforced by a stand-in)", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let s3: RunningS3rver;
  let proxy: AclProxy;
  let image: BuiltImage;
  let port: number;
  const raas = (...args: string[]) => runCli(args, { cwd: work, env });
  const config = (redirect: "presigned" | "public") =>
    writeFile(
      join(work, "raas.cfg"),
      [
        "[raas]",
        "storage = s3",
        "[s3]",
        `endpoint = ${proxy.endpoint}`,
        `redirect = ${redirect}`,
        `public_read = ${redirect === "public"}`,
        "[aws]",
        `aws_access_key = ${s3.credentials.accessKeyId}`,
        `aws_secret_access_key = ${s3.credentials.secretAccessKey}`,
        `[${ISV}]`,
        "s3_bucket = pub-images",
        "",
      ].join("\n"),
    );

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-public-"));
    env = cliEnv(join(work, "home"));
    port = await reservePort(join(work, "home", "raas"), ISV);
    s3 = await startS3rver();
    proxy = await startAclProxy(s3.endpoint);
    image = await buildOciLayout(join(work, "app.tar"), { name: "pub/app", tag: "1.0", layers: 2 });
  }, 60_000);

  afterAll(async () => {
    await stopBackgroundServer(join(work, "home", "raas"), ISV);
    await proxy.close();
    await s3.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("publishes private objects while redirects are presigned", async () => {
    await config("presigned");
    const setup = await raas("setup", ISV, "--create");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const push = await raas("push", ISV, "app.tar");
    expect(push.code, push.stdout + push.stderr).toBe(0);
    const blobs = [...proxy.acls.entries()].filter(([key]) => key.startsWith("pub-images/pub-app/blobs/"));
    expect(blobs.length).toBe(3);
    expect(blobs.every(([, acl]) => acl === "private")).toBe(true);
    expect((await raas("status", ISV)).code).toBe(0);
  });

  it("status fails in public mode when anonymous clients cannot read the blobs", async () => {
    await config("public");
    const run = await raas("status", ISV, "--json");
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as Report;
    const failure = report.checks.find((c) => c.name === "pub/app" && c.status === "fail");
    expect(failure?.detail).toMatch(
      /^3 of 3 blob\(s\) checked cannot be read anonymously, as clients must in public redirect mode: http:\/\/127\.0\.0\.1:\d+\/pub-images\/pub-app\/blobs\/sha256:[0-9a-f]{64} answered 403$/,
    );
    expect(failure?.fix).toMatch(/^`raas setup pub` marks stored objects public-read/);
    expect(report.checks.some((c) => c.name === "pub/app" && c.status === "ok")).toBe(false);
  });

  it("setup marks the stored objects public-read; then status passes and pulls get the bytes", async () => {
    const before = proxy.putAclCalls();
    const setup = await raas("setup", ISV, "--json");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const storage = (JSON.parse(setup.stdout) as Report).checks.find((c) => c.name === "storage");
    const marked = /marked (\d+) object\(s\) public-read/.exec(storage?.detail ?? "")?.[1];
    expect(Number(marked)).toBeGreaterThanOrEqual(3);
    expect(proxy.putAclCalls() - before).toBe(Number(marked));
    const objects = [...proxy.acls.entries()].filter(([key]) => key.startsWith("pub-images/pub-app/"));
    expect(objects.every(([, acl]) => acl === "public-read")).toBe(true);

    const status = await raas("status", ISV, "--verify");
    expect(status.code, status.stdout).toBe(0);
    // A pull's blob request: the registry redirects to the storage URL, fetched anonymously.
    const layer = image.manifests[0]?.layers[0];
    if (layer === undefined) throw new Error("the test image has no layer");
    const blob = await fetch(`http://127.0.0.1:${port}/v2/pub/app/blobs/${layer.digest}`);
    expect(blob.status).toBe(200);
    expect(sha256Digest(Buffer.from(await blob.arrayBuffer()))).toBe(layer.digest);
    // A second setup has nothing to repair.
    const again = await raas("setup", ISV, "--json");
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false });
  });

  it("with --verify, status asks for every blob, not a sample", async () => {
    const key = [...proxy.acls.keys()].find((k) => k.startsWith("pub-images/pub-app/blobs/"));
    if (key === undefined) throw new Error("no blob recorded");
    proxy.acls.set(key, "private");
    const run = await raas("status", ISV, "--verify");
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/1 of 3 blob\(s\) checked cannot be read anonymously/);
    expect((await raas("setup", ISV)).code).toBe(0);
    const after = await raas("status", ISV, "--verify");
    expect(after.code, after.stdout).toBe(0);
  });
});
