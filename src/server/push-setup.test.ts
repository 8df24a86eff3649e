import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadServerConfig } from "./config.js";
import { openServerStore } from "./observe.js";
import { createPushApi, isLoopback, type PushInjected } from "./push-setup.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-push-setup-"));
  await mkdir(join(dir, "v1"));
  await mkdir(join(dir, "v2"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function config(push: string) {
  const file = join(dir, "registry.conf");
  await writeFile(
    file,
    `[serve_content]\nenable = true\ncontent_dir_v1 = v1\ncontent_dir_v2 = v2\n[push]\n${push}\napp_remote = ${dir}/remote.git\n`,
  );
  return loadServerConfig(file, {});
}

const reload = () => Promise.resolve();
const nobody = () => false;
type Conf = Awaited<ReturnType<typeof config>>;
const create = async (conf: Conf, host: string, injected: PushInjected = {}) =>
  createPushApi(conf, host, injected, reload, nobody, await openServerStore(conf));

describe("the write API's configuration", () => {
  it("is off unless enabled, and without an access layer stays off (writes answer 405)", async () => {
    expect(await create(await config(""), "127.0.0.1")).toBeUndefined();
    expect(await create(await config("enable = true"), "127.0.0.1")).toBeUndefined();
  });

  it("allows unauthenticated writes for loopback testing only on a loopback listen address", async () => {
    const conf = await config("enable = true\nunauthenticated_loopback = true");
    expect(await create(conf, "127.0.0.1")).toBeDefined();
    expect(await create(conf, "::1")).toBeDefined();
    for (const host of ["0.0.0.0", "::", "10.1.2.3", "registry.example.com"]) {
      await expect(create(conf, host)).rejects.toThrow(
        /unauthenticated_loopback is only allowed on a loopback listen address/,
      );
    }
  });

  it("uses an injected access layer whatever the listen address", async () => {
    const conf = await config("enable = true");
    const api = await create(conf, "0.0.0.0", {
      authorizeWrite: () => Promise.resolve({ name: "alice", email: "alice@example.com" }),
    });
    expect(api).toBeDefined();
  });

  it("refuses to start without a store to write to", async () => {
    const file = join(dir, "bare.conf");
    await writeFile(
      file,
      `[push]\nenable = true\nunauthenticated_loopback = true\napp_remote = ${dir}/remote.git\n`,
    );
    await expect(create(await loadServerConfig(file, {}), "127.0.0.1")).rejects.toThrow(
      /\[push\] needs a store: \[serve_content\] enable, or \[storage\] kind = s3 with a bucket/,
    );
  });

  it("knows loopback peers, including IPv4-mapped ones", () => {
    expect(["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "localhost"].every(isLoopback)).toBe(true);
    expect(["10.0.0.1", "::ffff:10.0.0.1", "0.0.0.0", "::", "128.0.0.1"].some(isLoopback)).toBe(false);
  });
});
