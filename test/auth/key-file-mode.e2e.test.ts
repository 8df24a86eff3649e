/**
 * The registry server refuses signing keys other users may read. Locally the key file must be
 * 0600; with `[auth] key_group_read` (written for OpenShift, where a Secret volume with the
 * pod's fsGroup is 0440 whatever its defaultMode) group read is accepted, never other users.
 */
import { existsSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emptyPolicy, ensureKeys, KEY_FILE, serializePolicy } from "../../src/auth/index.js";
import { makeAppRepo, type AppRepo } from "../../src/server/testing/fixture.js";
import { freePort, MAIN, ServerProcess } from "../helpers/server-process.js";

let repo: AppRepo;

function config(root: string, content: { v1: string; v2: string }, groupRead: boolean): string {
  return [
    "[general]",
    "data_dir = data",
    "[serve_content]",
    "enable = true",
    `content_dir_v1 = ${content.v1}`,
    `content_dir_v2 = ${content.v2}`,
    "use_x_sendfile = false",
    "[raas]",
    "manifest_dir = manifests",
    "[auth]",
    "mode = local",
    "realm = http://127.0.0.1:1/token",
    "service = raas-test",
    `key_dir = ${join(root, "state")}`,
    `key_group_read = ${groupRead}`,
    `policy_file = ${join(root, "access.yaml")}`,
    "",
  ].join("\n");
}

beforeAll(async () => {
  repo = await makeAppRepo((paths) =>
    config(paths.root, { v1: paths.contentV1, v2: paths.contentV2 }, false),
  );
  await writeFile(join(repo.root, "access.yaml"), serializePolicy(emptyPolicy()));
  await ensureKeys(join(repo.root, "state"));
});

afterAll(async () => {
  await repo?.cleanup();
});

/** Start the server with the key file at `mode`; the listening port, or the reason it exited. */
async function start(mode: number, groupRead: boolean): Promise<{ listening: boolean; output: string }> {
  await writeFile(repo.configPath, config(repo.root, { v1: repo.contentV1, v2: repo.contentV2 }, groupRead));
  await chmod(join(repo.root, "state", KEY_FILE), mode);
  const server = new ServerProcess(repo.configPath, await freePort(), { RAAS_WORKERS: "1" });
  try {
    await server.waitFor("listening line", (e) => e.event === "listening");
    return { listening: true, output: server.stdout + server.stderr };
  } catch {
    if (server.child.exitCode === null) await once(server.child, "exit");
    return { listening: false, output: server.stdout + server.stderr };
  } finally {
    await server.stop();
  }
}

describe.runIf(existsSync(MAIN))("the signing key file's mode", () => {
  it("locally: starts with 0600, refuses group- or world-readable keys, naming the file", async () => {
    const ok = await start(0o600, false);
    expect(ok.listening, ok.output).toBe(true);
    for (const mode of [0o640, 0o604, 0o644, 0o660]) {
      const refused = await start(mode, false);
      expect(refused.listening, `mode ${mode.toString(8)}`).toBe(false);
      expect(refused.output).toContain(
        `${join(repo.root, "state", KEY_FILE)}: signing keys are readable by other users`,
      );
    }
  }, 120_000);

  it("with key_group_read (a Secret volume with an fsGroup): 0440 starts, world-readable or group-writable is refused", async () => {
    expect((await start(0o440, true)).listening).toBe(true);
    expect((await start(0o400, true)).listening).toBe(true);
    for (const mode of [0o444, 0o460, 0o604]) {
      const refused = await start(mode, true);
      expect(refused.listening, `mode ${mode.toString(8)}`).toBe(false);
      expect(refused.output).toContain("signing keys are readable by other users");
    }
  }, 120_000);
});
