/**
 * `--src-ca` ADDS certificate authorities to the ones node trusts by default; it does not
 * replace them. Two HTTPS servers on loopback with two unrelated private CAs: a registry whose
 * certificate comes from CA 1 (given with --src-ca), and a "CDN" it redirects every blob
 * download to, whose certificate comes from CA 2, trusted the way a public CA is: through
 * node's default roots (NODE_EXTRA_CA_CERTS, in a child raas process). With CA 1 replacing the
 * defaults, the redirect fails. raas's own registry client (registryTrust, for its registry's
 * CA) is held to the same rule.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../src/adapters/package-root.js";
import { MediaType } from "../../src/image/media-types.js";
import { writeOciLayoutDir } from "../helpers/image-builder.js";
import { setUpRefusalIsv, type RefusalIsv } from "../helpers/refusal-isv.js";
import { certificateAuthority } from "../helpers/tls.js";

const ISV = "srcca";
const RAAS = join(packageRoot(), "bin", "raas.js");

let isv: RefusalIsv;
let dir: string;
let ca1: Awaited<ReturnType<typeof certificateAuthority>>;
let ca2: Awaited<ReturnType<typeof certificateAuthority>>;
let registry: Server;
let cdn: Server;
let cdnHits = 0;

const listen = (server: Server) =>
  new Promise<string>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );

/** raas as its own process, so NODE_EXTRA_CA_CERTS acts as it does for a user. */
async function raasProcess(args: string[], extra: Record<string, string> = {}) {
  return promisify(execFile)(process.execPath, [RAAS, ...args], {
    cwd: isv.work,
    env: { ...isv.env, ...extra },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout: string; stderr: string }) => ({ code: e.code ?? -1, ...e }),
  );
}

beforeAll(async () => {
  isv = await setUpRefusalIsv(ISV);
  dir = await mkdtemp(join(tmpdir(), "raas-src-ca-"));
  await mkdir(join(dir, "ca1"));
  await mkdir(join(dir, "ca2"));
  ca1 = await certificateAuthority(join(dir, "ca1"), "registry private CA");
  ca2 = await certificateAuthority(join(dir, "ca2"), "CDN public CA");
  const layout = join(dir, "layout");
  const { entry } = await writeOciLayoutDir(layout, { name: "acme/app", tag: "1", layers: 1 });
  const blob = (digest: string) => readFile(join(layout, "blobs", "sha256", digest.replace("sha256:", "")));
  const manifest = await blob(entry.digest);

  cdn = createServer({ cert: ca2.cert, key: ca2.key }, (req, res) => {
    cdnHits++;
    const digest = /^\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? "")?.[1];
    if (digest === undefined) return res.writeHead(404).end();
    void blob(digest).then(
      (bytes) => res.writeHead(200, { "Content-Length": bytes.length }).end(bytes),
      () => res.writeHead(404).end(),
    );
  });
  const cdnHost = await listen(cdn);
  registry = createServer({ cert: ca1.cert, key: ca1.key }, (req, res) => {
    const url = req.url ?? "";
    if (url === "/v2/") return res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
    if (url === "/v2/acme/app/manifests/1" || url === `/v2/acme/app/manifests/${entry.digest}`) {
      res.writeHead(200, {
        "Content-Type": MediaType.ociManifest,
        "Content-Length": manifest.length,
        "Docker-Content-Digest": entry.digest,
      });
      return res.end(req.method === "HEAD" ? undefined : manifest);
    }
    const digest = /^\/v2\/acme\/app\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url)?.[1];
    if (digest !== undefined) {
      return res.writeHead(307, { Location: `https://${cdnHost}/blobs/${digest}` }).end();
    }
    res.writeHead(404).end();
  });
  registryHost = await listen(registry);
}, 60_000);
let registryHost: string;

afterAll(async () => {
  await new Promise((resolve) => registry.close(resolve));
  await new Promise((resolve) => cdn.close(resolve));
  await rm(dir, { recursive: true, force: true });
  await isv.remove();
});

describe("--src-ca adds to the default CAs", () => {
  it("trusts the registry through --src-ca and its CDN through the default roots", async () => {
    const hitsBefore = cdnHits;
    const run = await raasProcess(
      ["push", ISV, `docker://${registryHost}/acme/app:1`, "--src-ca", ca1.caPath, "--no-wait", "--json"],
      { NODE_EXTRA_CA_CERTS: ca2.caPath },
    );
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as { images: { name: string }[] }).images).toMatchObject([
      { name: "acme/app" },
    ]);
    // The blobs came from the CDN, over TLS verified against CA 2.
    expect(cdnHits).toBeGreaterThan(hitsBefore);
  });

  it("still verifies: without CA 2 among the defaults the CDN is refused, without --src-ca the registry", async () => {
    const noCdnCa = await raasProcess([
      "push",
      ISV,
      `docker://${registryHost}/acme/app:1`,
      "--src-ca",
      ca1.caPath,
      "--no-wait",
    ]);
    expect(noCdnCa.code).toBe(1);
    const cdnPort = (cdn.address() as AddressInfo).port;
    expect(noCdnCa.stderr).toMatch(
      new RegExp(`after a redirect to 127\\.0\\.0\\.1:${cdnPort}: .*certificate`),
    );
    const noSrcCa = await raasProcess(["push", ISV, `docker://${registryHost}/acme/app:1`, "--no-wait"], {
      NODE_EXTRA_CA_CERTS: ca2.caPath,
    });
    expect(noSrcCa.code).toBe(1);
    expect(noSrcCa.stderr).toMatch(/certificate/i);
  });

  it("holds raas's client of its own registry to the same rule (its CA besides the defaults)", async () => {
    const script = `
      const { registryTrust } = await import(${JSON.stringify(join(packageRoot(), "dist", "app", "registry-http.js"))});
      const trust = registryTrust(process.env.CA1);
      for (const url of process.argv.slice(1)) {
        const res = await trust.fetch(url);
        console.log(res.status);
      }`;
    const cdnUrl = `https://127.0.0.1:${(cdn.address() as AddressInfo).port}/blobs/none`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--input-type=module", "-e", script, `https://${registryHost}/v2/`, cdnUrl],
      { env: { PATH: process.env.PATH ?? "", CA1: ca1.ca, NODE_EXTRA_CA_CERTS: ca2.caPath } },
    );
    expect(stdout.trim().split("\n")).toEqual(["200", "404"]);
  });
});
