/**
 * Names and tags that are legal but dangerous as object keys or file names, published and
 * served end to end (setup starts the real registry process; push waits until it serves the
 * new tags): `__proto__`, `constructor`, `toString`, `hasOwnProperty` as tags, the lower-case
 * ones the grammar allows as repository names, and a 255-character repository name (the
 * grammar's maximum), whose metadata file name must still fit the file system.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, reservePort, runCli, stopBackgroundServer } from "../helpers/cli.js";
import { buildDockerArchive } from "../helpers/image-builder.js";
import { buildV1Chain, writePulpExport } from "../helpers/pulp-builder.js";

const ISV = "keys";
const PROTO_TAGS = ["__proto__", "constructor", "toString", "hasOwnProperty"];

interface PushJson {
  images: { name: string; tags: string[]; digest: string; metadataFile: string }[];
  deployed: boolean | null;
}

describe("names and tags that are object keys or long file names", () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let host: string;
  const raas = (...args: string[]) => runCli(args, { cwd: work, env });
  const remote = () => join(work, "home", "raas", ISV, "app.git");
  const tracked = () =>
    execFileSync("git", ["--git-dir", remote(), "ls-tree", "-r", "--name-only", "HEAD", "data/"], {
      encoding: "utf8",
    })
      .split("\n")
      .filter((l) => l !== "");
  const manifestStatus = async (name: string, reference: string) => {
    const res = await fetch(`http://${host}/v2/${name}/manifests/${reference}`, {
      headers: { accept: "application/vnd.docker.distribution.manifest.v2+json" },
    });
    await res.arrayBuffer();
    return { status: res.status, digest: res.headers.get("docker-content-digest") };
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-keys-"));
    env = cliEnv(join(work, "home"));
    await reservePort(join(work, "home", "raas"), ISV);
    const setup = await raas("setup", ISV);
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const platform = JSON.parse(await readFile(join(work, "home", "raas", ISV, "platform.json"), "utf8")) as {
      port: number;
    };
    host = `127.0.0.1:${platform.port}`;
  }, 60_000);

  afterAll(async () => {
    await stopBackgroundServer(join(work, "home", "raas"), ISV);
    await rm(work, { recursive: true, force: true });
  });

  it("publishes and serves __proto__, constructor, toString and hasOwnProperty as tags", async () => {
    const image = await buildDockerArchive(join(work, "proto.tar"), {
      name: "acme/proto",
      tag: "x",
      layers: 1,
    });
    const tagArgs = PROTO_TAGS.flatMap((t) => ["--tag", t]);
    const run = await raas("push", ISV, image.path, "--name", "acme/proto", ...tagArgs, "--json");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as PushJson;
    expect(result.deployed).toBe(true);
    expect(result.images[0]?.tags).toEqual([...PROTO_TAGS].sort());
    const meta = JSON.parse(
      execFileSync("git", ["--git-dir", remote(), "show", "HEAD:data/keys-acme-proto.json"], {
        encoding: "utf8",
      }),
    ) as { "x-raas": { tags: Record<string, string> } };
    expect(Object.keys(meta["x-raas"].tags).sort()).toEqual([...PROTO_TAGS].sort());
    for (const tag of PROTO_TAGS) {
      expect(await manifestStatus("acme/proto", tag)).toEqual({
        status: 200,
        digest: result.images[0]?.digest,
      });
    }
    // Inherited names that were never pushed are not tags.
    expect((await manifestStatus("acme/proto", "valueOf")).status).toBe(404);
  }, 120_000);

  it("publishes and serves __proto__ and constructor tags read from a Pulp export, v2 and v1", async () => {
    const images = await buildV1Chain(["keys-base", "keys-app"]);
    const top = images[1]?.id ?? "";
    // Built by JSON.parse: an object literal would set the prototype instead of a key.
    const tags = JSON.parse(`{"__proto__": "${top}", "constructor": "${top}"}`) as Record<string, string>;
    const path = join(work, "keys-export.tar");
    await writePulpExport(path, { repoId: "acme-keys", registryId: "acme/keys", images, tags });
    const run = await raas("push", ISV, path, "--json");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as PushJson;
    expect(result.deployed).toBe(true);
    expect(result.images[0]?.tags).toEqual(["__proto__", "constructor"]);
    for (const tag of ["__proto__", "constructor"]) {
      expect(await manifestStatus("acme/keys", tag)).toEqual({
        status: 200,
        digest: result.images[0]?.digest,
      });
      const v1 = await fetch(`http://${host}/v1/repositories/acme/keys/tags/${tag}`);
      expect(v1.status).toBe(200);
      expect(await v1.json()).toBe(top);
    }
    expect((await manifestStatus("acme/keys", "toString")).status).toBe(404);
  }, 120_000);

  it("publishes and serves constructor, tostring and hasownproperty as repository names", async () => {
    for (const name of ["constructor", "tostring", "hasownproperty"]) {
      const image = await buildDockerArchive(join(work, `${name}.tar`), { name, tag: "1", layers: 1 });
      const run = await raas("push", ISV, image.path, "--json");
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const result = JSON.parse(run.stdout) as PushJson;
      expect(result.deployed).toBe(true);
      expect(await manifestStatus(name, "1")).toEqual({ status: 200, digest: result.images[0]?.digest });
    }
    expect((await manifestStatus("valueof", "1")).status).toBe(404);
  }, 120_000);

  it("publishes and serves a repository name of 255 characters", async () => {
    const name = `acme/${"a".repeat(120)}/${"b".repeat(129)}`;
    expect(name.length).toBe(255);
    const image = await buildDockerArchive(join(work, "long.tar"), { name, tag: "1", layers: 1 });
    const run = await raas("push", ISV, image.path, "--json");
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as PushJson;
    expect(result.deployed).toBe(true);
    const file = result.images[0]?.metadataFile ?? "";
    expect(tracked()).toContain(file);
    expect(Buffer.byteLength(file.slice(file.lastIndexOf("/") + 1))).toBeLessThanOrEqual(255);
    expect(await manifestStatus(name, "1")).toEqual({ status: 200, digest: result.images[0]?.digest });
    const status = await raas("status", ISV);
    expect(status.stdout + status.stderr).not.toMatch(/should be named/);
  }, 120_000);

  it("refuses nothing it can publish: no orphan blobs when a push fails late", async () => {
    // The metadata file of every accepted name fits; storage holds only complete repositories.
    const storage = join(work, "home", "raas", ISV, "storage");
    const prefixes = (await readdir(storage)).filter((d) => !d.startsWith("."));
    for (const prefix of prefixes) {
      expect(await readdir(join(storage, prefix))).toContain("manifests");
    }
  });
});
