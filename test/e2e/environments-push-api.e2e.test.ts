/**
 * The registry's push API knows its lifecycle environment: `raas setup` writes `[raas]
 * environment` (and for a promote_only one `promote_only` and `promote_from`) into each
 * environment's registry.conf, and the server started from that file refuses every push into
 * prod (blob uploads and manifest PUTs: 403 DENIED "prod accepts only promotions: raas promote
 * ...") while test takes skopeo's push. The write API is switched on by adding `[push]` to the
 * file setup wrote, as an operator would (docs/push-api.md).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Digest } from "../../src/image/digest.js";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { writeOciLayoutDir } from "../helpers/image-builder.js";
import { skopeoPush } from "../helpers/skopeo.js";
import { startEnvironmentRegistries, type RegistryProcess } from "../helpers/push-api-server.js";

const run = promisify(execFile);
const ISV = "gated";
const ENVS = ["test", "prod"] as const;

describe("the push API of a promote_only environment", () => {
  let work: string;
  const servers: Partial<Record<(typeof ENVS)[number], RegistryProcess>> = {};
  const home = () => join(work, "home", "raas");
  const skopeoPushTo = (e: (typeof ENVS)[number], ref: string) =>
    skopeoPush(`oci:${join(work, "src")}:1.0`, `${servers[e]?.host ?? ""}/${ref}`, { creds: "rita:pw" });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-env-push-api-"));
    const env = cliEnv(join(work, "home"));
    for (const e of ENVS) await reservePort(home(), `${ISV}.${e}`);
    await writeFile(
      join(work, "raas.cfg"),
      [`[${ISV}]`, `environments = ${ENVS.join(" ")}`, "promote_only = prod", ""].join("\n"),
    );
    const setup = await runCli(["setup", ISV], { cwd: work, env });
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    await writeOciLayoutDir(join(work, "src"), {
      name: "acme/app",
      tag: "1.0",
      layers: 2,
      gzip: true,
      annotations: "skopeo",
    });
    await startEnvironmentRegistries({ work, raasHome: home(), isv: ISV, envs: ENVS }, servers);
  }, 300_000);

  afterAll(async () => {
    for (const e of ENVS) await servers[e]?.stop();
    for (const e of ENVS) await stopBackgroundServer(home(), `${ISV}.${e}`);
    await rm(work, { recursive: true, force: true });
  });

  it("setup tells each registry its environment; prod's says it takes promotions from test only", async () => {
    const prod = await readFile(join(home(), `${ISV}.prod`, "deploy", "registry.conf"), "utf8");
    expect(prod).toContain("environment = prod\npromote_only = true\npromote_from = test\n");
    const test = await readFile(join(home(), `${ISV}.test`, "deploy", "registry.conf"), "utf8");
    expect(test).toContain("environment = test\n");
    expect(test).not.toContain("promote_only");
  });

  it("prod refuses skopeo's push, blob uploads and a manifest PUT with 403 DENIED naming raas promote", async () => {
    const before = await run("git", [
      "--git-dir",
      join(home(), `${ISV}.prod`, "app.git"),
      "log",
      "--format=%s",
    ]);
    const refused = await skopeoPushTo("prod", "acme/app:1.0");
    expect(refused).toContain(
      `prod accepts only promotions: raas promote ${ISV} acme/app:<tag> --from test --to prod`,
    );

    const base = `http://${servers.prod?.host ?? ""}`;
    const auth = { Authorization: `Basic ${Buffer.from("rita:pw").toString("base64")}` };
    const blob = Buffer.from("a blob prod never stores");
    const upload = await fetch(`${base}/v2/acme/app/blobs/uploads/?digest=${sha256Digest(blob)}`, {
      method: "POST",
      headers: auth,
      body: blob,
    });
    expect(upload.status).toBe(403);
    expect(await upload.json()).toEqual({
      errors: [
        {
          code: "DENIED",
          message: `prod accepts only promotions: raas promote ${ISV} acme/app:<tag> --from test --to prod`,
        },
      ],
    });
    // Anonymous too: the refusal is the same for everyone, before any login is asked for.
    const manifest = await fetch(`${base}/v2/acme/app/manifests/2.0`, {
      method: "PUT",
      headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
      body: "{}",
    });
    expect(manifest.status).toBe(403);
    const body = (await manifest.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe("DENIED");
    expect(body.errors[0]?.message).toBe(
      `prod accepts only promotions: raas promote ${ISV} acme/app:2.0 --from test --to prod`,
    );
    // Nothing was committed, stored or served.
    const after = await run("git", [
      "--git-dir",
      join(home(), `${ISV}.prod`, "app.git"),
      "log",
      "--format=%s",
    ]);
    expect(after.stdout).toBe(before.stdout);
    expect((await fetch(`${base}/v2/acme/app/manifests/1.0`)).status).toBe(404);
    expect((await fetch(`${base}/v2/acme/app/blobs/${sha256Digest(blob)}`)).status).toBe(404);
  }, 180_000);

  it("test takes the same push, and serves it", async () => {
    expect(await skopeoPushTo("test", "acme/app:1.0")).toBe("");
    const head = await fetch(`http://${servers.test?.host ?? ""}/v2/acme/app/manifests/1.0`, {
      method: "HEAD",
      headers: { Accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(head.status).toBe(200);
    const log = await run("git", [
      "--git-dir",
      join(home(), `${ISV}.test`, "app.git"),
      "log",
      "-1",
      "--format=%an %s",
    ]);
    expect(log.stdout.trim()).toBe(`rita ${ISV} push acme/app:1.0 (registry API)`);
  }, 180_000);
});
