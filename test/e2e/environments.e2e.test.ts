/**
 * Lifecycle environments end to end on the embedded default (local storage, local servers):
 * one ISV with test, uat and prod, each its own registry process, app repository and port,
 * sharing one store. Push to test, promote to uat and prod (same digest everywhere, zero blob
 * bytes moved), pulls by tag and digest from each endpoint with skopeo, --plan changes nothing,
 * promote_only refuses a direct push, a moved tag needs --force, demotion withdraws the tag
 * from prod only, and status is clean in all three.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { buildOciLayout, type BuiltImage } from "../helpers/image-builder.js";
import { skopeoInspectDigest, skopeoRawManifest } from "../helpers/skopeo.js";

const ISV = "envs";
const ENVS = ["test", "uat", "prod"] as const;
const OPERATOR = { name: "Rita Release", email: "rita@example.com" };

interface PromoteJson {
  ok: boolean;
  digest: string;
  changed: boolean;
  plan: boolean;
  copyMode: string;
  previousDigest?: string;
  blobs: { total: number; copied: number; copiedBytes: number; present: number };
  commit?: string;
  deployed: boolean | null;
}

describe("lifecycle environments on the local platform", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  const hosts: Record<string, string> = {};
  let image: BuiltImage;
  let next: BuiltImage;
  let digest = "";
  let saved: { name: string | undefined; email: string | undefined };

  const home = () => join(work, "home", "raas");
  const raas = (...args: string[]) => runCli(args, { cwd: work, env });
  const json = async <T>(...args: string[]): Promise<T> => {
    const run = await raas(...args, "--json");
    if (run.code !== 0) {
      throw new Error(`raas ${args.join(" ")} failed (${run.code}):\n${run.stdout}\n${run.stderr}`);
    }
    return JSON.parse(run.stdout) as T;
  };
  const git = (e: string, ...args: string[]) =>
    execFileSync("git", ["--git-dir", join(home(), `${ISV}.${e}`, "app.git"), ...args], { encoding: "utf8" });
  const status = async (e: string, path: string) => (await fetch(`http://${hosts[e] ?? ""}${path}`)).status;
  /** Every file of the shared store (content and the environments' own tag objects; not the servers' statistics). */
  const storeFiles = async () =>
    (await readdir(join(home(), ISV, "storage"), { recursive: true, withFileTypes: true }))
      .filter((d) => d.isFile() && !d.parentPath.includes(".meta") && !d.parentPath.includes(".tmp"))
      .map((d) => join(d.parentPath, d.name).slice(join(home(), ISV, "storage").length + 1))
      .filter((key) => !key.startsWith(".raas/"))
      .sort();

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-envs-"));
    env = cliEnv(join(work, "home"));
    // The operator's git identity authors every commit raas makes (git reads it from the process).
    saved = { name: process.env.GIT_AUTHOR_NAME, email: process.env.GIT_AUTHOR_EMAIL };
    process.env.GIT_AUTHOR_NAME = OPERATOR.name;
    process.env.GIT_AUTHOR_EMAIL = OPERATOR.email;
    for (const e of ENVS) hosts[e] = `127.0.0.1:${await reservePort(home(), `${ISV}.${e}`)}`;
    await writeFile(
      join(work, "raas.cfg"),
      [`[${ISV}]`, `environments = ${ENVS.join(" ")}`, "promote_only = prod", ""].join("\n"),
    );
    const setup = await raas("setup", ISV, "--json");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const report = JSON.parse(setup.stdout) as { checks: { name: string }[] };
    for (const e of ENVS) expect(report.checks.some((c) => c.name.startsWith(`${e}: `))).toBe(true);
    image = await buildOciLayout(join(work, "app.tar"), {
      name: "acme/app",
      tag: "1.0",
      layers: 3,
      layerSize: 200_000,
      gzip: true,
      platforms: [
        { architecture: "amd64", os: "linux" },
        { architecture: "arm64", os: "linux" },
      ],
    });
    next = await buildOciLayout(join(work, "next.tar"), {
      name: "acme/app",
      tag: "1.0",
      layers: 2,
      layerSize: 1000,
      gzip: true,
    });
  }, 300_000);

  afterAll(async () => {
    for (const [key, value] of [
      ["GIT_AUTHOR_NAME", saved.name],
      ["GIT_AUTHOR_EMAIL", saved.email],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    for (const e of ENVS) await stopBackgroundServer(home(), `${ISV}.${e}`);
    await rm(work, { recursive: true, force: true });
  });

  it("each environment is a registry of its own: its own port and app repository", async () => {
    for (const e of ENVS) {
      expect(await status(e, "/v2/")).toBe(200);
      expect(git(e, "log", "-1", "--format=%s").trim()).toBe(`${ISV} setup`);
    }
    expect(new Set(Object.values(hosts)).size).toBe(3);
  });

  it("pushes to test, and refuses a direct push to the promote-only prod", async () => {
    const pushed = await json<{ images: { digest: string; pullUrls: string[] }[] }>(
      "push",
      ISV,
      image.path,
      "--env",
      "test",
    );
    digest = pushed.images[0]?.digest ?? "";
    expect(digest).toMatch(/^sha256:/);
    expect(pushed.images[0]?.pullUrls).toEqual([`${hosts.test}/acme/app:1.0`]);
    expect(await skopeoInspectDigest(`${hosts.test}/acme/app:1.0`)).toBe(digest);

    const refused = await raas("push", ISV, image.path, "--env", "prod");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${ISV} prod receives images only by promotion; nothing was pushed`);
    expect(git("prod", "log", "-1", "--format=%s").trim()).toBe(`${ISV} setup`);
    expect(await status("prod", "/v2/acme/app/manifests/1.0")).toBe(404);
  });

  it("--plan shows the promotion and changes nothing", async () => {
    const before = git("uat", "rev-parse", "HEAD");
    const files = await storeFiles();
    const plan = await json<PromoteJson>(
      "promote",
      ISV,
      "acme/app:1.0",
      "--from",
      "test",
      "--to",
      "uat",
      "--plan",
    );
    expect(plan).toMatchObject({ plan: true, changed: true, digest, copyMode: "shared" });
    expect(plan.blobs).toMatchObject({ copied: 0, copiedBytes: 0 });
    expect(git("uat", "rev-parse", "HEAD")).toBe(before);
    expect(await storeFiles()).toEqual(files);
    expect(await status("uat", "/v2/acme/app/manifests/1.0")).toBe(404);
  });

  it("promotes test -> uat -> prod with the same digest and no blob bytes moved", async () => {
    const before = await storeFiles();
    for (const [from, to] of [
      ["test", "uat"],
      ["uat", "prod"],
    ] as const) {
      const done = await json<PromoteJson>("promote", ISV, "acme/app:1.0", "--from", from, "--to", to);
      expect(done).toMatchObject({ changed: true, digest, copyMode: "shared", deployed: true });
      expect(done.blobs.copied).toBe(0);
      const log = git(to, "log", "-1", "--format=%an <%ae>%n%s%n%b");
      expect(log).toContain(`${OPERATOR.name} <${OPERATOR.email}>`);
      expect(log).toContain(`${ISV} promote acme/app:1.0 from ${from} to ${to}`);
      expect(log).toContain(`Digest: ${digest}`);
      expect(git(to, "show", "--stat", "--format=", "HEAD")).toMatch(/environments\.json/);
    }
    // Only the environments' own tag objects were added; no blob or manifest was written twice.
    const added = (await storeFiles()).filter((f) => !before.includes(f));
    expect(added.length).toBeGreaterThan(0);
    for (const file of added) {
      expect(file).toMatch(/^_env\/(uat|prod)\/acme-app\/(manifests\/list\/1\.0|tags\/list)$/);
    }

    const manifest = await skopeoRawManifest(`${hosts.test}/acme/app@${digest}`);
    for (const e of ENVS) {
      expect(await skopeoInspectDigest(`${hosts[e] ?? ""}/acme/app:1.0`)).toBe(digest);
      expect((await skopeoRawManifest(`${hosts[e] ?? ""}/acme/app:1.0`)).equals(manifest)).toBe(true);
    }
    // Pull every platform by digest from prod, bytes verified by skopeo against the digests.
    const pulled = await mkdtemp(join(work, "pull-"));
    execFileSync("skopeo", [
      "copy",
      "--all",
      "--src-tls-verify=false",
      `docker://${hosts.prod}/acme/app@${digest}`,
      `oci:${pulled}`,
    ]);
    const index = JSON.parse(await readFile(join(pulled, "index.json"), "utf8")) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests[0]?.digest).toBe(digest);

    const record = JSON.parse(git("prod", "show", "HEAD:environments.json")) as {
      tags: Record<string, { digest: string; environments: { name: string; from?: string }[] }>;
    };
    expect(record.tags["acme/app:1.0"]?.digest).toBe(digest);
    expect(record.tags["acme/app:1.0"]?.environments.map((s) => s.name)).toEqual(["test", "uat", "prod"]);

    // So do status and the registry's web page: the environments the tag passed through.
    const prodStatus = JSON.parse((await raas("status", ISV, "--env", "prod", "--json")).stdout) as {
      checks: { name: string; detail: string }[];
    };
    expect(prodStatus.checks.filter((c) => c.name === "environments").map((c) => c.detail)).toEqual([
      `acme/app:1.0 (${digest.slice(0, 19)}…) passed test → uat → prod`,
    ]);
    const page = await (await fetch(`http://${hosts.prod ?? ""}/ui/r/acme/app/-/t/1.0`)).text();
    expect(page).toContain('<h2 id="environments">Environments</h2>');
    for (const e of ENVS) expect(page).toContain(`<li>${e}`);

    const again = await json<PromoteJson>("promote", ISV, "acme/app:1.0", "--from", "uat", "--to", "prod");
    expect(again).toMatchObject({ changed: false });
    expect(git("prod", "log", "-1", "--format=%s").trim()).toBe(
      `${ISV} promote acme/app:1.0 from uat to prod`,
    );
    // Three promotions, a status, seven skopeo runs and a pull: a minute on a machine at load 30.
  }, 180_000);

  it("refuses to move a tag the target has at another digest, unless --force", async () => {
    const pushed = await json<{ images: { digest: string }[] }>("push", ISV, next.path, "--env", "uat");
    const newer = pushed.images[0]?.digest ?? "";
    expect(newer).not.toBe(digest);
    const head = git("prod", "rev-parse", "HEAD");
    const refused = await raas("promote", ISV, "acme/app:1.0", "--from", "uat", "--to", "prod");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `prod already has acme/app:1.0 at ${digest}, not ${newer}; nothing was promoted`,
    );
    expect(git("prod", "rev-parse", "HEAD")).toBe(head);
    expect(await skopeoInspectDigest(`${hosts.prod}/acme/app:1.0`)).toBe(digest);

    const plan = await json<PromoteJson>(
      "promote",
      ISV,
      "acme/app:1.0",
      "--from",
      "uat",
      "--to",
      "prod",
      "--plan",
      "--force",
    );
    expect(plan).toMatchObject({ plan: true, previousDigest: digest, digest: newer });
    expect(git("prod", "rev-parse", "HEAD")).toBe(head);

    const forced = await json<PromoteJson>(
      "promote",
      ISV,
      "acme/app:1.0",
      "--from",
      "uat",
      "--to",
      "prod",
      "--force",
    );
    expect(forced).toMatchObject({ changed: true, previousDigest: digest, digest: newer });
    expect(await skopeoInspectDigest(`${hosts.prod}/acme/app:1.0`)).toBe(newer);
    expect(await skopeoInspectDigest(`${hosts.test}/acme/app:1.0`)).toBe(digest);
  });

  it("demotion withdraws the tag from prod only; --plan first changes nothing", async () => {
    const head = git("prod", "rev-parse", "HEAD");
    const plan = await json<{ plan: boolean; digest: string }>(
      "demote",
      ISV,
      "acme/app:1.0",
      "--from",
      "prod",
      "--plan",
    );
    expect(plan.plan).toBe(true);
    expect(git("prod", "rev-parse", "HEAD")).toBe(head);
    expect(await status("prod", "/v2/acme/app/manifests/1.0")).toBe(200);

    const done = await json<{ commit: string; deployed: boolean }>(
      "promote",
      ISV,
      "acme/app:1.0",
      "--from",
      "prod",
      "--remove",
    );
    expect(done.deployed).toBe(true);
    expect(git("prod", "log", "-1", "--format=%an <%ae>%n%s").trim()).toBe(
      `${OPERATOR.name} <${OPERATOR.email}>\n${ISV} demote acme/app:1.0 from prod`,
    );
    expect(await status("prod", "/v2/acme/app/manifests/1.0")).toBe(404);
    expect(await skopeoInspectDigest(`${hosts.test}/acme/app:1.0`)).toBe(digest);
    expect(await status("uat", "/v2/acme/app/manifests/1.0")).toBe(200);
    expect(git("prod", "show", "HEAD:environments.json")).not.toContain("acme/app:1.0");
  });

  it("says clearly what is wrong", async () => {
    const missing = await raas("promote", ISV, "acme/app:9.9", "--from", "test", "--to", "uat");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("test has no acme/app:9.9; nothing to promote");
    const malformed = await raas("promote", ISV, "acme/App:1.0", "--from", "test", "--to", "uat");
    expect(malformed.code).toBe(2);
    const unknown = await raas("promote", ISV, "acme/app:1.0", "--from", "test", "--to", "staging");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`${ISV} has no environment "staging"`);
    const noEnv = await raas("gc", ISV, "--dry-run");
    expect(noEnv.code).toBe(2);
    expect(noEnv.stderr).toContain("say which one with --env");
  });

  it("prints the objects a consuming cluster applies for one environment's registry", async () => {
    // The local registry listens on loopback: Kubernetes refuses that in Endpoints, so no YAML.
    const refused = await raas("cluster-config", ISV, "--env", "prod");
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toContain("resolves to 127.0.0.1, a loopback address");
    expect(refused.stderr).toContain("--address <ip>");
    const run = await raas("cluster-config", ISV, "--env", "prod", "--address", "10.1.2.3");
    expect(run.code, run.stderr).toBe(0);
    // The Route's host still comes from app_url: said on stderr, the YAML on stdout stays clean.
    expect(run.stderr).toContain(
      `the Route's host 127.0.0.1 (app_url http://${hosts.prod ?? ""}) is loopback`,
    );
    const docs = parseAllDocuments(run.stdout).map((d) => d.toJS() as Record<string, unknown>);
    expect(docs.map((d) => d.kind)).toEqual(["Service", "Endpoints", "Route"]);
    const port = Number((hosts.prod ?? "").split(":")[1]);
    expect(docs[1]).toMatchObject({ subsets: [{ addresses: [{ ip: "10.1.2.3" }], ports: [{ port }] }] });
    expect(docs[0]).toMatchObject({ spec: { ports: [{ port: 5000, targetPort: port }] } });
    expect(docs[2]).toMatchObject({ spec: { host: "127.0.0.1", to: { name: "docker-registry" } } });
  });

  it("status is clean in every environment, one at a time and all together", async () => {
    for (const e of ENVS) {
      const one = await raas("status", ISV, "--env", e, "--json");
      expect(one.code, one.stdout + one.stderr).toBe(0);
    }
    const all = await raas("status", ISV, "--json");
    expect(all.code, all.stdout + all.stderr).toBe(0);
    const report = JSON.parse(all.stdout) as { checks: { name: string; status: string }[] };
    for (const e of ENVS) expect(report.checks.some((c) => c.name.startsWith(`${e}: `))).toBe(true);
    expect(report.checks.filter((c) => c.status === "fail")).toEqual([]);
  });
});
